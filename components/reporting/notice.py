"""The notice of a finished run: a status record from KFP's ``PipelineTaskFinalStatus``, and an optional hook.

The exit task of a ``dsl.ExitHandler`` receives the final status of the tasks it guards (state, the job's
resource name, the failing task's error). :func:`status_record` turns it into a small JSON record (kept as the
exit task's output artifact: the run's status, readable with ``emotion-pipeline runs get``/``report``); when a
hook URL is given, :func:`post_notice` POSTs the record to it (a chat webhook, a Cloud Function, an alerting
endpoint), once, within a timeout, and never fails the run for it. E-mail through Vertex AI's notification
component needs google-cloud-pipeline-components, which does not install with this stack's pins.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

#: States of a finished run that need someone's attention.
FAILED_STATES = frozenset({"FAILED", "CANCELLED", "CANCELED", "SYSTEM_ERROR"})


def status_record(final_status: Any, pipeline: str = "emotion-pipeline") -> dict[str, Any]:
    """A JSON-ready record of KFP's ``PipelineTaskFinalStatus`` (or a mapping with its fields).

    Returns:
        ``pipeline``, ``state``, ``failed``, ``job``, ``task``, ``error_code``, ``error_message``.
    """

    def read(name: str) -> Any:
        if isinstance(final_status, Mapping):
            return final_status.get(name)
        return getattr(final_status, name, None)

    state = str(read("state") or "UNKNOWN").upper()
    return {
        "pipeline": pipeline,
        "state": state,
        "failed": state in FAILED_STATES,
        "job": read("pipeline_job_resource_name") or "",
        "task": read("pipeline_task_name") or "",
        "error_code": read("error_code"),
        "error_message": " ".join(str(read("error_message") or "").split()),
    }


def notice_text(record: Mapping[str, Any]) -> str:
    """One line for a human: ``emotion-pipeline FAILED: <job> (<error>)``."""
    error = f" ({record['error_message']})" if record.get("error_message") else ""
    return f"{record['pipeline']} {record['state']}: {record['job'] or 'run'}{error}"


def post_notice(url: str, record: Mapping[str, Any], timeout: float = 10.0, only_failures: bool = True) -> str:
    """POSTs ``{"text": …, "record": …}`` as JSON to ``url`` (Slack/Chat-style webhooks read ``text``).

    Returns:
        What happened, for the task's log: ``sent (200)``, ``skipped: …`` or ``not sent: …`` (never raises: a
        notice that cannot be sent must not turn a finished run into a failed one).
    """
    if not url:
        return "skipped: no hook URL"
    if only_failures and not record.get("failed"):
        return f"skipped: the run {record.get('state', '?')}"
    if not url.startswith(("https://", "http://")):
        return f"not sent: {url!r} is not an http(s) URL"
    body = json.dumps({"text": notice_text(record), "record": dict(record)}).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return f"sent ({response.status})"
    except (urllib.error.URLError, OSError, ValueError) as err:
        return f"not sent: {err}"
