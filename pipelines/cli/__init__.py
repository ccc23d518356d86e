"""The ``emotion-pipeline`` command line: local commands (run, report), cloud commands (compile, submit, schedule)."""
