"""Online prediction: a registered model behind Vertex AI's custom-container HTTP contract (FastAPI + uvicorn).

Contract (https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements): the server listens
on ``AIP_HTTP_PORT`` (default 8080), answers ``GET AIP_HEALTH_ROUTE`` (default ``/health``) with 200 once the
model is loaded, and ``POST AIP_PREDICT_ROUTE`` (default ``/predict``) with
``{"instances": [{"text": "…"}, …]}`` → ``{"predictions": [{"label": "…", "scores": {"joy": 0.91, …}}, …]}``.
An instance may also be a bare string. On Vertex AI the model's files are at ``AIP_STORAGE_URI``. The variables
are read when the server starts (:func:`settings_from_env`), never at import.

A bad request gets a 4xx answer ``{"error": "…"}`` and never a stack trace: 400 (not JSON, no ``instances``,
wrong types, empty text, too many instances), 413 (body over 10 MB), 404/405 (route, method). A failure inside
the model is a 500 ``{"error": "prediction failed (…)"}``, logged with its traceback on the server only.
What the scores mean: ``components/models/scoring.py``.
"""

import contextlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from components.models.scoring import ScoredPredictions

MAX_BODY_BYTES = 10 * 2**20
MAX_INSTANCES = 10_000
MAX_TEXT_CHARS = 20_000  # as ingest's max_line_chars
DEFAULT_PORT = 8080
#: Longest wait for the next part of a request body (a slow client is answered 408 and let go).
READ_TIMEOUT_SECONDS = 30.0
#: Longest wait for a request's headers (from the connection or the previous answer), and idle time of a kept-alive
#: connection: a client that sends nothing, or its headers slowly, is disconnected then.
HEADER_TIMEOUT_SECONDS = 30
LOG = logging.getLogger("emotion-pipeline.serve")


# No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations (Request) at definition.


class TextPredictor(Protocol):
    def predict_texts(self, texts: list[str]) -> ScoredPredictions: ...


class RequestError(ValueError):
    """A request the server refuses: its HTTP status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ServeSettings:
    """Where the server listens and its routes."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    health_route: str = "/health"
    predict_route: str = "/predict"


def settings_from_env(port: int | None = None, host: str | None = None,
                      environ: Mapping[str, str] | None = None) -> ServeSettings:  # fmt: skip
    """The settings from Vertex AI's variables, read now; ``port``/``host`` given on the command line win.

    The host defaults to 0.0.0.0 when ``AIP_HTTP_PORT`` is set (a container on Vertex AI must listen on every
    interface) and to 127.0.0.1 otherwise (this machine only).

    Raises:
        RequestError: ``AIP_HTTP_PORT`` is not a port number (status 0: a configuration error, not a request).
    """
    environ = os.environ if environ is None else environ
    if port is not None and not 0 < port < 65536:
        raise RequestError(0, f"--port {port} is not a port number (1 to 65535)")
    port_text = environ.get("AIP_HTTP_PORT", "")
    if port is None and port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise RequestError(0, f"AIP_HTTP_PORT={port_text!r} is not a port number")
        port = int(port_text)
    wanted = (("health_route", "AIP_HEALTH_ROUTE", "/health"), ("predict_route", "AIP_PREDICT_ROUTE", "/predict"))
    routes = {key: environ.get(var, "") or default for key, var, default in wanted}
    return ServeSettings(
        host=host or ("0.0.0.0" if port_text else "127.0.0.1"),  # Vertex AI's contract: every interface
        port=DEFAULT_PORT if port is None else port,
        **{key: value if value.startswith("/") else "/" + value for key, value in routes.items()},
    )


def parse_instances(body: bytes) -> list[str]:
    """The texts of a predict request body.

    Raises:
        RequestError: 400 with what is wrong (and where: ``instances[3].text``).
    """
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(400, f"the body is not JSON ({err})") from None
    except (RecursionError, ValueError) as err:  # nested too deep, a number of thousands of digits
        raise RequestError(400, f"the body is JSON this server does not read ({type(err).__name__})") from None
    if not isinstance(payload, dict) or "instances" not in payload:
        raise RequestError(400, 'expected a JSON object {"instances": [{"text": "..."}, ...]}')
    instances = payload["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError(400, "instances must be a non-empty list")
    if len(instances) > MAX_INSTANCES:
        raise RequestError(400, f"at most {MAX_INSTANCES} instances a request, got {len(instances)}")
    texts = []
    for i, instance in enumerate(instances):
        text = instance.get("text") if isinstance(instance, dict) else instance
        if not isinstance(text, str):
            raise RequestError(
                400, f'instances[{i}]: expected {{"text": "<string>"}} or a string, got {instance!r:.80}'
            )
        if not text.strip():
            raise RequestError(400, f"instances[{i}].text is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise RequestError(400, f"instances[{i}].text has {len(text)} characters; at most {MAX_TEXT_CHARS}")
        texts.append(text)
    return texts


def build_app(model: TextPredictor, info: Mapping[str, Any], settings: ServeSettings) -> Any:
    """The FastAPI application: the health and predict routes, JSON errors for everything refused.

    Args:
        model: A loaded model (``predict_texts``).
        info: What the health route reports (model name, version, registry).
        settings: Routes.
    """
    from fastapi import FastAPI, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    app = FastAPI(title="emotion-pipeline", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail)}, status_code=err.status_code)

    @app.exception_handler(RequestError)
    async def refused(request: Request, err: RequestError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=err.status)

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception) -> JSONResponse:
        LOG.exception("prediction failed")
        return JSONResponse({"error": f"prediction failed ({type(err).__name__})"}, status_code=500)

    @app.api_route(settings.health_route, methods=["GET", "HEAD"])
    async def health() -> dict[str, Any]:
        return {"status": "ok", **info}

    @app.post(settings.predict_route)
    async def predict(request: Request) -> JSONResponse:
        texts = parse_instances(await _read_body(request))
        predicted = await run_in_threadpool(model.predict_texts, texts)
        return JSONResponse({"predictions": predicted.rows()})

    return app


async def _read_body(request: Any) -> bytes:
    """The body, refused with 413 as soon as it passes :data:`MAX_BODY_BYTES` (declared or sent)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestError(413, f"the body is {int(declared)} bytes; at most {MAX_BODY_BYTES}")
    import asyncio

    from starlette.requests import ClientDisconnect

    body, chunks = bytearray(), request.stream()
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(anext(chunks), READ_TIMEOUT_SECONDS)
            except StopAsyncIteration:
                return bytes(body)
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise RequestError(413, f"the body is over {MAX_BODY_BYTES} bytes")
    except TimeoutError:
        raise RequestError(408, f"no part of the body for {READ_TIMEOUT_SECONDS:g} s") from None
    except ClientDisconnect:
        raise RequestError(400, "the client disconnected before the body was read") from None


def server_config(app: Any, settings: ServeSettings, header_timeout: float = HEADER_TIMEOUT_SECONDS) -> Any:
    """uvicorn's settings: a request's headers within ``header_timeout`` seconds of the connection (or of the previous
    answer) or the connection is closed (:mod:`pipelines.serve_protocol`), a body's parts within
    :data:`READ_TIMEOUT_SECONDS`, idle kept-alive connections closed as late, at most 256 connections at a time."""
    import uvicorn

    from pipelines.serve_protocol import with_header_timeout

    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                          http=with_header_timeout(header_timeout), timeout_keep_alive=int(header_timeout) or 1,
                          h11_max_incomplete_event_size=64 * 1024, limit_concurrency=256)  # fmt: skip


def serve(model: TextPredictor, info: Mapping[str, Any], settings: ServeSettings) -> None:
    """Runs the server until interrupted (uvicorn, one process; predictions run in its thread pool)."""
    import uvicorn

    LOG.info("serving %s on http://%s:%d%s", info, settings.host, settings.port, settings.predict_route)
    server = uvicorn.Server(server_config(build_app(model, info, settings), settings))
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
        server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE (it has logged why)
