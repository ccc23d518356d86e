"""serve: Vertex AI's custom-container contract over FastAPI, bad requests answered with 4xx JSON, never a trace."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from lifecycle_models import registered

from components.registry.store import ModelRef, load_version, open_registry
from pipelines.serving import MAX_BODY_BYTES, RequestError, ServeSettings, build_app, parse_instances, settings_from_env


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    uri, name = registered(tmp_path_factory.mktemp("serve"))
    model, version, _ = load_version(open_registry(uri), ModelRef.parse(f"{name}@champion"))
    info = {"model": name, "version": version.version, "requested": f"{name}@champion"}
    app = build_app(model, info, ServeSettings(predict_route="/v1/predict"))
    return TestClient(app, raise_server_exceptions=False)


def test_settings_come_from_vertex_variables_when_the_server_starts() -> None:
    assert settings_from_env(environ={}) == ServeSettings("127.0.0.1", 8080, "/health", "/predict")
    vertex = {"AIP_HTTP_PORT": "7080", "AIP_HEALTH_ROUTE": "/v1/ok", "AIP_PREDICT_ROUTE": "v1/models/m:predict"}
    assert settings_from_env(environ=vertex) == ServeSettings("0.0.0.0", 7080, "/v1/ok", "/v1/models/m:predict")
    assert settings_from_env(9000, "127.0.0.1", environ=vertex).port == 9000
    with pytest.raises(RequestError, match="AIP_HTTP_PORT"):
        settings_from_env(environ={"AIP_HTTP_PORT": "eighty"})


def test_health_and_predict(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200 and health.json() == {
        "status": "ok",
        "model": "emotion-demo",
        "version": "1",
        "requested": "emotion-demo@champion",
        "mode": "single",
        "champion": {"ref": "emotion-demo@champion", "version": "1"},
        "challenger": None,
    }
    answer = client.post(
        "/v1/predict", json={"instances": [{"text": "I am SO happy today!"}, "this is awful, I am furious"]}
    )
    assert answer.status_code == 200
    assert answer.json()["model"] == "emotion-demo" and answer.json()["modelVersionId"] == "1"
    predictions = answer.json()["predictions"]
    assert len(predictions) == 2 and set(predictions[0]) == {"label", "scores", "version"}
    assert predictions[0]["version"] == predictions[1]["version"] == "1"
    assert predictions[0]["label"] == max(predictions[0]["scores"], key=predictions[0]["scores"].get)
    assert abs(sum(predictions[0]["scores"].values()) - 1) < 1e-3


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"not json", 400, "not JSON"),
        (b"[1, 2]", 400, "instances"),
        (json.dumps({"instance": []}).encode(), 400, "instances"),
        (json.dumps({"instances": []}).encode(), 400, "non-empty"),
        (json.dumps({"instances": [{"text": 3}]}).encode(), 400, "instances[0]"),
        (json.dumps({"instances": [{"text": "ok"}, {"txt": "x"}]}).encode(), 400, "instances[1]"),
        (json.dumps({"instances": [{"text": "   "}]}).encode(), 400, "instances[0].text is empty"),
        (json.dumps({"instances": ["x" * 30_000]}).encode(), 400, "characters"),
        (b"\xff\xfe", 400, "not JSON"),
    ],
)
def test_bad_requests_get_a_4xx_json_error(client: TestClient, body: bytes, status: int, message: str) -> None:
    answer = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status and message in answer.json()["error"]
    assert "Traceback" not in answer.text


def test_a_body_over_1_5_mb_is_refused_before_it_is_read(client: TestClient) -> None:
    big = b'{"instances": ["' + b"a" * (MAX_BODY_BYTES + 10) + b'"]}'
    answer = client.post("/v1/predict", content=big)
    assert answer.status_code == 413 and "at most" in answer.json()["error"]

    def chunks():  # no content-length: counted while streamed
        for _ in range(3):
            yield b"a" * 2**20

    answer = client.post("/v1/predict", content=chunks())
    assert answer.status_code == 413


def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json()
    answer = client.get("/v1/predict")
    assert answer.status_code == 405 and "error" in answer.json()


def test_a_failing_model_is_a_500_without_a_trace() -> None:
    class Broken:
        def predict_texts(self, texts):
            raise RuntimeError("secret internals")

    client = TestClient(build_app(Broken(), {}, ServeSettings()), raise_server_exceptions=False)
    answer = client.post("/predict", json={"instances": ["x"]})
    assert answer.status_code == 500 and answer.json() == {"error": "prediction failed (RuntimeError)"}
    assert "secret" not in answer.text


def test_parse_instances_accepts_objects_and_strings() -> None:
    assert parse_instances(b'{"instances": [{"text": "a"}, "b"], "parameters": {}}') == ["a", "b"]
