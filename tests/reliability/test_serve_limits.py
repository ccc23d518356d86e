"""Issue 27, defects 9 and 15: ``serve`` refuses a bad or busy port in one line before loading the model, answers
HEAD /health, a hostile body (deep nesting, a huge number) gets 400, never 500, and a client that sends its request's
headers slowly (or nothing at all) is disconnected (a raw socket client on 127.0.0.1)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from components.models.scoring import predict_with_scores
from pipelines.cli.main import main
from pipelines.serving import ServeSettings, build_app, server_config


class Keyword:
    def predict(self, texts):
        return ["joy" if "happy" in t else "sadness" for t in texts]

    def predict_texts(self, texts):
        return predict_with_scores(self, texts)


@pytest.fixture
def client() -> TestClient:
    return TestClient(build_app(Keyword(), {"model": "m"}, ServeSettings()), raise_server_exceptions=False)


@pytest.mark.parametrize(
    "body", [b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}", b'{"instances": [' + b"9" * 5000 + b"]}"]
)
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


@pytest.fixture
def live_server() -> Iterator[tuple[str, int]]:
    """The real server (uvicorn, :func:`server_config`) on a loopback port, with a header deadline of 1 s."""
    import uvicorn

    listener = socket.create_server(("127.0.0.1", 0))
    config = server_config(build_app(Keyword(), {"model": "m"}, ServeSettings()), ServeSettings(), header_timeout=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(200):  # a guard while it starts, not a check
        if server.started:
            break
        threading.Event().wait(0.05)
    yield "127.0.0.1", listener.getsockname()[1]
    server.should_exit = True
    thread.join(timeout=30)
    listener.close()


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server closes the connection; a hang is cut by a generous guard (the catalogue times it)."""
    sock.settimeout(GUARD_SECONDS)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False


GUARD_SECONDS = 30


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /hea", b"POST /predict HTTP/1.1\r\nHost: x\r\n"],
    ids=["nothing", "half-request-line", "headers-unfinished"],
)
def test_a_client_slow_to_send_its_headers_is_disconnected(live_server: tuple[str, int], sent: bytes) -> None:
    with socket.create_connection(live_server) as slow:
        slow.sendall(sent)
        assert _closed_by_server(slow)  # before: held open for ever


def test_a_kept_alive_connection_answers_then_waits_for_headers_again(live_server: tuple[str, int]) -> None:
    with socket.create_connection(live_server) as client:
        client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        client.settimeout(GUARD_SECONDS)
        answer = b""
        while b"}" not in answer:  # the whole JSON answer (its headers and body may come apart)
            answer += client.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"}")
        client.sendall(b"GET /hea")  # the next request's headers never complete
        assert _closed_by_server(client)


def test_answers_are_not_held_back_by_nagle() -> None:
    """A listening socket handed to --workers processes has protocol 0, so asyncio leaves Nagle's algorithm on: the
    answer's second write then waited for the client's delayed ACK (45 ms p50 measured); the protocol turns it off."""
    from types import SimpleNamespace

    from pipelines.serve_protocol import _no_delay

    with socket.create_server(("127.0.0.1", 0)) as listener, socket.create_connection(listener.getsockname()):
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            _no_delay(SimpleNamespace(get_extra_info=lambda name: accepted if name == "socket" else None))
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
