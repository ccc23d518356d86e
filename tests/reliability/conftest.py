"""Fixtures of the reliability catalogue (defined in reliability_helpers)."""

from reliability_helpers import closed_port_url, silent_server  # noqa: F401
