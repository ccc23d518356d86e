"""The ``emotion-pipeline`` command line: local commands (run, report) and cloud commands (compile, submit, schedule)."""
