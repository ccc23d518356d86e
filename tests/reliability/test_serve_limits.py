"""Issue 27, defects 9 and 15: ``serve`` refuses a bad or busy port in one line before loading the model, answers
HEAD /health, and a hostile body (deep nesting, a huge number) gets 400, never 500."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from components.models.scoring import predict_with_scores
from pipelines.cli.main import main
from pipelines.serving import ServeSettings, build_app


class Keyword:
    def predict(self, texts):
        return ["joy" if "happy" in t else "sadness" for t in texts]

    def predict_texts(self, texts):
        return predict_with_scores(self, texts)


@pytest.fixture
def client() -> TestClient:
    return TestClient(build_app(Keyword(), {"model": "m"}, ServeSettings()), raise_server_exceptions=False)


@pytest.mark.parametrize("body", [b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                                  b'{"instances": [' + b"9" * 5000 + b"]}"])  # fmt: skip
def test_a_hostile_body_is_a_400(client: TestClient, body: bytes) -> None:
    answer = client.post("/predict", content=body)
    assert answer.status_code == 400 and "error" in answer.json()


def test_head_health_is_200(client: TestClient) -> None:
    assert client.head("/health").status_code == 200


def test_a_port_out_of_range_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["serve", "--model", "m@champion", "--port", "70000"])
    err = capsys.readouterr().err
    assert status == 2 and "--port 70000 is not a port number" in err and len(err.strip().splitlines()) == 1


def test_a_busy_port_is_refused_before_serving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status = main(["serve", "--registry", str(tmp_path), "--model", "m@champion", "--port", str(port)])
    out, err = capsys.readouterr()
    assert status == 2 and f"--port {port}: cannot listen" in err and "serving" not in out + err
