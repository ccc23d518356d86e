"""Online prediction: a registered model behind Vertex AI's custom-container HTTP contract (FastAPI + uvicorn).

Contract (https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements): the server listens
on ``AIP_HTTP_PORT`` (default 8080), answers ``GET AIP_HEALTH_ROUTE`` (default ``/health``) with 200 once the
model is loaded, and ``POST AIP_PREDICT_ROUTE`` (default ``/predict``) with
``{"instances": [{"text": "…"}, …], "parameters": {"explain": true, "explain_top": 5}}`` (parameters optional) →
``{"predictions": [{"label": "…", "scores": {"joy": 0.91, …}, "version": "3"}, …], "model": "emotion-demo",
"modelVersionId": "3"}``: every prediction names the registered version that made it (with ``"explanation":
[{"feature": "…", "weight": …}, …]`` when asked for), and the response the model and version that answered. An
instance may also be a bare string. On Vertex AI the model's files are at ``AIP_STORAGE_URI``. The variables
are read when the server starts (:func:`settings_from_env`), never at import. Which version answers (champion,
canary, shadow): :mod:`pipelines.serving_routes`.

A bad request gets a 4xx answer ``{"error": "…"}`` and never a stack trace: 400 (not JSON, no ``instances``,
wrong types, empty text, too many instances, bad parameters, explanations the model cannot give), 413 (body over
Vertex AI's 1.5 MB), 404/405 (route, method). A failure inside the model is a 500
``{"error": "prediction failed (…)"}``, logged with its traceback on the server only.
What the scores mean: ``components/models/scoring.py``.
"""

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from components.models.scoring import ScoredPredictions
from pipelines.serving_routes import INLINE_MS, AnsweredRequest, Deployment, InlinePolicy, ServedVersion, utc_now

#: Vertex AI's limit on a prediction request's body (1.5 MB); larger bodies are refused with 413.
MAX_BODY_BYTES = 3 * 2**19
#: Explanation words per prediction when the request asks for explanations without ``explain_top``, and the most.
EXPLAIN_TOP = 5
MAX_EXPLAIN_TOP = 100
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
    workers: int = 1
    inline_ms: float = INLINE_MS


def settings_from_env(
    port: int | None = None, host: str | None = None, environ: Mapping[str, str] | None = None
) -> ServeSettings:
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


@dataclass(frozen=True)
class PredictRequest:
    """A parsed predict request: the texts, and whether (and how many words) to explain."""

    texts: list[str]
    explain: bool = False
    explain_top: int = EXPLAIN_TOP


def parse_instances(body: bytes) -> list[str]:
    """The texts of a predict request body (:func:`parse_request`'s ``texts``)."""
    return parse_request(body).texts


def parse_request(body: bytes) -> PredictRequest:
    """A predict request body: ``{"instances": [...], "parameters": {...}}``.

    Raises:
        RequestError: 400 with what is wrong (and where: ``instances[3].text``, ``parameters.explain_top``).
    """
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(400, f"the body is not JSON ({err})") from None
    except (RecursionError, ValueError) as err:  # nested too deep, a number of thousands of digits
        raise RequestError(400, f"the body is JSON this server does not read ({type(err).__name__})") from None
    if not isinstance(payload, dict) or "instances" not in payload:
        raise RequestError(400, 'expected a JSON object {"instances": [{"text": "..."}, ...]}')
    explain, top = _parse_parameters(payload.get("parameters"))
    return PredictRequest(_parse_texts(payload["instances"]), explain, top)


def _parse_texts(instances: Any) -> list[str]:
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


def _parse_parameters(parameters: Any) -> tuple[bool, int]:
    """``parameters.explain`` (a boolean, default false) and ``parameters.explain_top`` (1 to the most)."""
    if parameters is None:
        return False, EXPLAIN_TOP
    if not isinstance(parameters, dict):
        raise RequestError(400, f"parameters: expected a JSON object, got {parameters!r:.80}")
    explain = parameters.get("explain", False)
    if not isinstance(explain, bool):
        raise RequestError(400, f"parameters.explain: expected true or false, got {explain!r:.80}")
    top = parameters.get("explain_top", EXPLAIN_TOP)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_EXPLAIN_TOP:
        raise RequestError(
            400, f"parameters.explain_top: expected a whole number 1 to {MAX_EXPLAIN_TOP}, got {top!r:.80}"
        )
    return explain, top


def answer(served: ServedVersion, asked: PredictRequest) -> list[dict[str, Any]]:
    """The predictions of ``served`` for a request: label, scores, the version, the explanation if asked for.

    Raises:
        RequestError: 400: explanations asked of a model that cannot give them (the reason).
    """
    rows = served.model.predict_texts(asked.texts).rows()
    for row in rows:
        row["version"] = served.version
    if asked.explain:
        for row, explanation in zip(rows, _explain(served, asked.texts, asked.explain_top), strict=True):
            row["explanation"] = explanation
    return rows


def _explain(served: ServedVersion, texts: Sequence[str], top: int) -> list[list[dict[str, Any]]]:
    explain_texts = getattr(served.model, "explain_texts", None)
    if explain_texts is None:
        raise RequestError(
            400,
            f"{served.name} version {served.version} cannot explain its predictions (its model has no explain_texts)",
        )
    try:
        return explain_texts(texts, top)
    except ValueError as err:  # ExplanationUnavailable among them: the model says why
        raise RequestError(400, f"{served.name} version {served.version}: no explanation ({err})") from None


def single(model: TextPredictor, info: Mapping[str, Any]) -> Deployment:
    """One version answering everything, from a model and what the CLI reports about it."""
    ref = str(info.get("requested", "") or info.get("model", ""))
    return Deployment(ServedVersion(ref, str(info.get("model", "")), str(info.get("version", "")), model))


def build_app(
    model: TextPredictor | None, info: Mapping[str, Any], settings: ServeSettings, deployment: Deployment | None = None
) -> Any:
    """The FastAPI application: the health and predict routes, JSON errors for everything refused.

    Args:
        model: A loaded model (``predict_texts``) answering everything, when no ``deployment`` is given.
        info: What the health route reports (model name, version, registry).
        settings: Routes, and which requests are predicted on the event loop.
        deployment: The versions and how they share requests (:mod:`pipelines.serving_routes`); closed (its queue
            drained, its log closed) when the application shuts down.
    """
    from fastapi import FastAPI

    if deployment is None:
        deployment = single(model, info)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        deployment.close()

    app = FastAPI(title="emotion-pipeline", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    _add_error_handlers(app)
    _add_routes(app, info, settings, deployment)
    return app


def _add_error_handlers(app: Any) -> None:
    from fastapi import Request
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

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


def _add_routes(app: Any, info: Mapping[str, Any], settings: ServeSettings, deployment: Deployment) -> None:
    from fastapi import Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse
    from starlette.background import BackgroundTask

    policy = InlinePolicy(settings.inline_ms)

    @app.api_route(settings.health_route, methods=["GET", "HEAD"])
    async def health() -> dict[str, Any]:
        return {"status": "ok", **info, **deployment.health()}

    @app.post(settings.predict_route)
    async def predict(request: Request) -> JSONResponse:
        asked = parse_request(await _read_body(request))
        answered_by, served = deployment.pick()
        began = time.perf_counter()
        if policy.inline(answered_by, len(asked.texts)):
            rows = answer(served, asked)
        else:
            rows = await run_in_threadpool(answer, served, asked)
        policy.record(answered_by, len(asked.texts), (time.perf_counter() - began) * 1000)
        request_id = uuid.uuid4().hex
        done = AnsweredRequest(request_id, utc_now(), asked.texts, answered_by, rows)

        async def hand_off() -> None:  # after the answer is sent: the shadow's work never delays it
            deployment.answered(done)

        return JSONResponse(
            {"predictions": rows, "model": served.name, "modelVersionId": served.version},
            headers={"x-request-id": request_id},
            background=BackgroundTask(hand_off) if deployment.background is not None else None,
        )


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


def server_config(
    app: Any, settings: ServeSettings, header_timeout: float = HEADER_TIMEOUT_SECONDS, factory: bool = False
) -> Any:
    """uvicorn's settings: a request's headers within ``header_timeout`` seconds of the connection (or of the previous
    answer) or the connection is closed (:mod:`pipelines.serve_protocol`), a body's parts within
    :data:`READ_TIMEOUT_SECONDS`, idle kept-alive connections closed as late, at most 256 connections at a time (per
    worker). ``app`` is the application, or with ``factory`` the import string of a function that makes it (what
    ``settings.workers`` > 1 needs: each worker process makes its own)."""
    import uvicorn

    from pipelines.serve_protocol import with_header_timeout

    return uvicorn.Config(
        app,
        factory=factory,
        workers=settings.workers if factory else None,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        http=with_header_timeout(header_timeout),
        timeout_keep_alive=int(header_timeout) or 1,
        h11_max_incomplete_event_size=64 * 1024,
        limit_concurrency=256,
    )


def serve(
    model: TextPredictor | None, info: Mapping[str, Any], settings: ServeSettings, deployment: Deployment | None = None
) -> None:
    """Runs the server until interrupted (uvicorn, one process; large requests are predicted in its thread pool)."""
    import uvicorn

    LOG.info("serving %s on http://%s:%d%s", info, settings.host, settings.port, settings.predict_route)
    server = uvicorn.Server(server_config(build_app(model, info, settings, deployment), settings))
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
        server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE (it has logged why)


def serve_workers(app_factory: str, settings: ServeSettings) -> None:
    """Runs ``settings.workers`` uvicorn worker processes on one socket until interrupted; each calls
    ``app_factory`` (an import string, ``module:function``) and so loads its own models."""
    from uvicorn.supervisors import Multiprocess

    config = server_config(app_factory, settings, factory=True)
    sock = config.bind_socket()
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
        Multiprocess(config, sockets=[sock]).run()
