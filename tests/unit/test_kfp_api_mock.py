"""``runs list/get/cancel`` and the KFP preflight through the REAL ``kfp.Client`` over HTTP, against Prism serving
KFP's published v2beta1 OpenAPI spec (tests/kfp_api/README.md: kubeflow/pipelines 2.17.0, the KFP release pinned here).

Prism validates every request against the spec (path, method, parameters, body, the bearer-token scheme) and
answers 422 to one that breaks it; its answers are generated from the spec's schemas ("string" for text,
RUNTIME_STATE_UNSPECIFIED for states), so these tests check what we send and that we read any answer the spec
allows, not what a real KFP would answer. Prism listens on 127.0.0.1 only, on a free port, started and stopped
here. Without node or Prism (``npm ci --prefix tests/kfp_api``) the tests skip, except under CI=true: they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import runs
from pipelines.cli.main import main
from pipelines.cloud import Target
from pipelines.preflight import check_kfp_host

FOLDER = Path(__file__).resolve().parents[1] / "kfp_api"
SPEC = FOLDER / "kfp_api_single_file.swagger.json"
PRISM = FOLDER / "node_modules" / ".bin" / "prism"
TOKEN = "test-token"  # the spec's security scheme wants a bearer token; kfp.Client sends existing_token


def _missing() -> str:
    if shutil.which("node") is None:
        return "node not found"
    if not PRISM.exists():
        return f"Prism not installed: npm ci --prefix {FOLDER.relative_to(FOLDER.parents[1])}"
    return ""


def _with_byte_examples(node: object) -> object:
    """The spec with an example (``"AA=="``) on every ``format: byte`` field: Prism's static answers fill text
    fields with "string", which kfp_server_api's models refuse for bytes (base64). Requests are validated
    against the schemas, which are unchanged."""
    if isinstance(node, dict):
        node = {key: _with_byte_examples(value) for key, value in node.items()}
        if node.get("format") == "byte":
            node["example"] = "AA=="
        return node
    if isinstance(node, list):
        return [_with_byte_examples(item) for item in node]
    return node


def _served_spec(folder: Path) -> Path:
    served = folder / "kfp_api_served.swagger.json"
    served.write_text(json.dumps(_with_byte_examples(json.loads(SPEC.read_text(encoding="utf-8")))), encoding="utf-8")
    return served


@pytest.fixture(scope="module")
def prism() -> Iterator[str]:
    """Prism mocking KFP's v2beta1 API on 127.0.0.1:<free port>; its log is kept for the validation checks."""
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI installs it in .ci/run)")
        pytest.skip(reason)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = FOLDER.parents[1] / "build"
    log.mkdir(exist_ok=True)
    handle = open(log / "prism.log", "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(_served_spec(log))],
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    host = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, (log / "prism.log").read_text(encoding="utf-8")
                time.sleep(0.3)
        else:
            pytest.fail("Prism did not listen within 60 s")
        yield host
    finally:
        process.terminate()
        process.wait(timeout=20)
        handle.close()


@pytest.fixture
def client(prism: str, monkeypatch: pytest.MonkeyPatch):
    """The real kfp.Client at Prism, with a bearer token (our code builds it with the host only: the token is
    given here, as a KFP behind an authenticating proxy would need)."""
    import kfp

    real = kfp.Client
    monkeypatch.setattr(kfp, "Client", lambda host, **kwargs: real(host=host, existing_token=TOKEN, **kwargs))
    return real(host=prism, existing_token=TOKEN)


def test_the_preflight_accepts_kfps_health_record(prism: str) -> None:
    assert isinstance(check_kfp_host(prism, token=TOKEN), dict)


def test_get_list_cancel_send_requests_the_spec_accepts(prism: str, client) -> None:
    target = Target(kind="kfp", kfp_host=prism)
    run = runs.get_run("run-42", target, client=client)  # a 422 (request off the spec) would raise ApiException
    assert run.state == "UNSPECIFIED" and run.tasks  # the spec's example run has a task
    assert runs.format_run(run).startswith("run:")
    listed = runs.list_runs(target, limit=5, client=client)
    assert isinstance(listed, list)
    assert runs.cancel_run("run-42", target, client=client) == "run-42"


def test_cli_runs_get_through_the_real_client(prism: str, client, capsys) -> None:
    assert main(["runs", "get", "--kfp-host", prism, "run-42"]) == 0
    assert f"link:   {prism}/#/runs/details/" in capsys.readouterr().out


def test_prism_refuses_a_request_off_the_spec(prism: str) -> None:
    """The mock validates: a page size that is not an integer is refused (what makes the tests above count)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{prism}/apis/v2beta1/runs?page_size=many", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 422
