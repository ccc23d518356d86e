"""The command line's one error type: ``main`` prints ``emotion-pipeline <command>: error: <message>``."""


class CliError(Exception):
    """A command failed (a step of the run, a service): exit status 1."""

    exit_status = 1


class UsageError(CliError):
    """The command line cannot work as given (a bad value, an unknown parameter, a missing file): exit status 2."""

    exit_status = 2


def one_line(message: str) -> str:
    """A message as one line: its lines joined with ``; `` (blank ones dropped)."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())
