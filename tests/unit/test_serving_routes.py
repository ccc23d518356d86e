"""Issue 25: two versions in one server. The canary's seeded share, the shadow's log records (hash, not text, unless
asked), the shadow's work never on the response path (ordering through events), a full shadow queue dropping and
counting, explanations on request, and Vertex AI's 1.5 MB body limit."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from components.models.scoring import ScoredPredictions
from pipelines.serving import MAX_BODY_BYTES, ServeSettings, build_app
from pipelines.serving_routes import INLINE_INSTANCES, Deployment, InlinePolicy, PredictionLog, Routing, ServedVersion

CLASSES = ["joy", "sadness"]
GUARD_SECONDS = 30  # a hang is cut here; never a timing check


class Fixed:
    """A model answering one label for every text (scores 0.75 / 0.25)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def predict_texts(self, texts):
        row = [0.75, 0.25] if self.label == "joy" else [0.25, 0.75]
        return ScoredPredictions([self.label] * len(texts), CLASSES, np.array([row] * len(texts)), "probability")


class Explaining(Fixed):
    def __init__(self, label: str, error: str = "") -> None:
        super().__init__(label)
        self.error, self.asked = error, []

    def explain_texts(self, texts, top=5):
        self.asked.append(top)
        if self.error:
            raise ValueError(self.error)
        return [[{"feature": word, "weight": 1.0} for word in text.split()[:top]] for text in texts]


class Blocked(Fixed):
    """A challenger that waits for ``release`` before answering, and says when it started and finished (events
    shared with the shadow process, which is forked from this one)."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        fork = multiprocessing.get_context("fork")
        self.started, self.release, self.finished = fork.Event(), fork.Event(), fork.Event()

    def predict_texts(self, texts):
        self.started.set()
        self.release.wait(GUARD_SECONDS)
        self.finished.set()
        return super().predict_texts(texts)


class Failing(Fixed):
    def predict_texts(self, texts):
        raise RuntimeError("the challenger broke\non two lines")


def versions(champion_model=None, challenger_model=None) -> tuple[ServedVersion, ServedVersion]:
    champion = ServedVersion("emotion-demo@champion", "emotion-demo", "1", champion_model or Fixed("joy"))
    return champion, ServedVersion("emotion-demo/2", "emotion-demo", "2", challenger_model or Fixed("sadness"))


def client_for(deployment: Deployment) -> TestClient:
    app = build_app(None, {"model": "emotion-demo"}, ServeSettings(), deployment)
    return TestClient(app, raise_server_exceptions=False)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(("percent", "seed"), [(10.0, 0), (50.0, 7), (2.5, 25)])
def test_the_canary_answers_its_share_of_requests(percent: float, seed: int) -> None:
    deployment = Deployment(*versions(), routing=Routing("canary", percent, seed))
    draws = 1000
    answered = [deployment.pick()[0] for _ in range(draws)]
    share = percent / 100
    tolerance = 4 * math.sqrt(draws * share * (1 - share))  # four binomial standard deviations
    assert abs(answered.count("challenger") - draws * share) <= tolerance
    again = Deployment(*versions(), routing=Routing("canary", percent, seed))
    assert [again.pick()[0] for _ in range(draws)] == answered  # the seed fixes the sequence


@pytest.mark.parametrize(("percent", "expected"), [(0.0, {"champion"}), (100.0, {"challenger"})])
def test_the_canary_bounds(percent: float, expected: set[str]) -> None:
    deployment = Deployment(*versions(), routing=Routing("canary", percent))
    assert {deployment.pick()[0] for _ in range(200)} == expected


def test_canary_answers_name_the_version_that_answered(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "canary.jsonl")
    deployment = Deployment(*versions(), routing=Routing("canary", 50.0, 3), log=log)
    client = client_for(deployment)
    seen = []
    for i in range(40):
        body = client.post("/predict", json={"instances": [f"text {i}", "again"]}).json()
        labels = {"1": "joy", "2": "sadness"}[body["modelVersionId"]]
        assert body["model"] == "emotion-demo"
        assert [(p["version"], p["label"]) for p in body["predictions"]] == [(body["modelVersionId"], labels)] * 2
        seen.append(body["modelVersionId"])
    deployment.close()
    assert set(seen) == {"1", "2"}
    logged = records(tmp_path / "canary.jsonl")
    assert len(logged) == 80 and [r["instance"] for r in logged[:2]] == [0, 1]
    for record, version in zip(logged[::2], seen, strict=True):
        side = "champion" if version == "1" else "challenger"
        assert record["mode"] == "canary" and record["answered_by"] == side
        assert (
            record[side]["version"] == version and record["champion" if side == "challenger" else "challenger"] is None
        )


def test_the_shadow_log_has_both_predictions_and_the_texts_hash(tmp_path: Path) -> None:
    deployment = Deployment(*versions(), routing=Routing("shadow"), log=PredictionLog(tmp_path / "shadow.jsonl"))
    answer = client_for(deployment).post("/predict", json={"instances": [{"text": "Tränen"}, "b"]})
    deployment.close()
    assert answer.json()["modelVersionId"] == "1" and answer.json()["predictions"][0]["label"] == "joy"
    first, second = records(tmp_path / "shadow.jsonl")
    assert list(first) == [
        "time",
        "request_id",
        "instance",
        "mode",
        "model",
        "text_sha256",
        "answered_by",
        "champion",
        "challenger",
    ]
    assert first["request_id"] == answer.headers["x-request-id"] == second["request_id"]
    assert first["text_sha256"] == hashlib.sha256("Tränen".encode()).hexdigest() and second["instance"] == 1
    assert first["mode"] == "shadow" and first["answered_by"] == "champion" and first["model"] == "emotion-demo"
    assert first["champion"] == {
        "ref": "emotion-demo@champion",
        "version": "1",
        "label": "joy",
        "scores": {"joy": 0.75, "sadness": 0.25},
    }
    assert first["challenger"] == {
        "ref": "emotion-demo/2",
        "version": "2",
        "label": "sadness",
        "scores": {"joy": 0.25, "sadness": 0.75},
    }
    assert "Tränen" not in (tmp_path / "shadow.jsonl").read_text()


def test_log_texts_adds_the_text(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "shadow.jsonl")
    deployment = Deployment(*versions(), routing=Routing("shadow", log_texts=True), log=log)
    client_for(deployment).post("/predict", json={"instances": ["i am happy"]})
    deployment.close()
    assert records(tmp_path / "shadow.jsonl")[0]["text"] == "i am happy"


def test_a_failing_challenger_is_logged_and_the_champion_still_answers(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "shadow.jsonl")
    deployment = Deployment(*versions(challenger_model=Failing("joy")), routing=Routing("shadow"), log=log)
    answer = client_for(deployment).post("/predict", json={"instances": ["x"]})
    deployment.close()
    assert answer.status_code == 200
    challenger = records(tmp_path / "shadow.jsonl")[0]["challenger"]
    assert challenger == {
        "ref": "emotion-demo/2",
        "version": "2",
        "error": "RuntimeError: the challenger broke on two lines",
    }


def test_the_answer_never_waits_for_the_shadow(tmp_path: Path) -> None:
    challenger = Blocked("sadness")
    log = PredictionLog(tmp_path / "shadow.jsonl")
    deployment = Deployment(*versions(challenger_model=challenger), routing=Routing("shadow"), log=log)
    answer = client_for(deployment).post("/predict", json={"instances": ["x"]})
    assert answer.status_code == 200  # answered while the challenger ...
    assert challenger.started.wait(GUARD_SECONDS) and not challenger.finished.is_set()  # ... had not finished
    challenger.release.set()
    deployment.close()
    assert challenger.finished.is_set() and records(tmp_path / "shadow.jsonl")[0]["challenger"]["label"] == "sadness"


def test_a_full_shadow_queue_drops_and_counts(tmp_path: Path) -> None:
    challenger = Blocked("sadness")
    log = PredictionLog(tmp_path / "shadow.jsonl")
    deployment = Deployment(*versions(challenger_model=challenger), routing=Routing("shadow"), log=log, queue_size=1)
    client = client_for(deployment)
    assert client.post("/predict", json={"instances": ["first"]}).status_code == 200
    assert challenger.started.wait(GUARD_SECONDS)  # the worker holds the first; the queue is empty again
    statuses = [client.post("/predict", json={"instances": [t]}).status_code for t in ("second", "third")]
    health = client.get("/health").json()
    assert statuses == [200, 200] and health["background"]["dropped"] == 1 and health["background"]["queued"] == 2
    challenger.release.set()
    deployment.close()
    assert len(records(tmp_path / "shadow.jsonl")) == 2


def test_health_reports_both_versions_and_the_mode(tmp_path: Path) -> None:
    deployment = Deployment(*versions(), routing=Routing("canary", 5.0))
    health = client_for(deployment).get("/health").json()
    assert health["mode"] == "canary" and health["canary_percent"] == 5.0
    assert health["champion"] == {"ref": "emotion-demo@champion", "version": "1"}
    assert health["challenger"] == {"ref": "emotion-demo/2", "version": "2"}


def test_a_deployment_refuses_what_cannot_work() -> None:
    champion, challenger = versions()
    with pytest.raises(ValueError, match="needs a log"):
        Deployment(champion, challenger, Routing("shadow"))
    with pytest.raises(ValueError, match="needs a challenger"):
        Deployment(champion, None, Routing("canary", 5))
    with pytest.raises(ValueError, match="0 to 100"):
        Routing("canary", 101)


def test_explanations_on_request() -> None:
    model = Explaining("joy")
    client = client_for(Deployment(ServedVersion("m@champion", "m", "4", model)))
    body = {"instances": ["so very happy today", "ok"], "parameters": {"explain": True, "explain_top": 2}}
    predictions = client.post("/predict", json=body).json()["predictions"]
    assert model.asked == [2] and list(predictions[0]) == ["label", "scores", "version", "explanation"]
    assert predictions[0]["explanation"] == [{"feature": "so", "weight": 1.0}, {"feature": "very", "weight": 1.0}]
    assert "explanation" not in client.post("/predict", json={"instances": ["x"]}).json()["predictions"][0]
    client.post("/predict", json={"instances": ["x"], "parameters": {"explain": True}})
    assert model.asked == [2, 5]  # the interface's default


@pytest.mark.parametrize(
    ("model", "parameters", "message"),
    [
        (Fixed("joy"), {"explain": True}, "m version 4 cannot explain its predictions"),
        (Explaining("joy", "no linear model to read"), {"explain": True}, "no explanation (no linear model to read)"),
        (Fixed("joy"), {"explain": "yes"}, "parameters.explain: expected true or false"),
        (Fixed("joy"), {"explain": True, "explain_top": 0}, "parameters.explain_top"),
        (Fixed("joy"), [1], "parameters: expected a JSON object"),
    ],
)
def test_explanations_refused_with_the_reason(model, parameters, message: str) -> None:
    client = client_for(Deployment(ServedVersion("m@champion", "m", "4", model)))
    answer = client.post("/predict", json={"instances": ["x"], "parameters": parameters})
    assert answer.status_code == 400 and message in answer.json()["error"]


def test_vertex_ai_body_limit_is_1_5_mb() -> None:
    assert MAX_BODY_BYTES == 1.5 * 2**20
    client = client_for(Deployment(versions()[0]))
    text = "a" * 15_000
    under = json.dumps({"instances": [text] * 100}).encode()
    over = json.dumps({"instances": [text] * 105}).encode()
    assert len(under) <= MAX_BODY_BYTES < len(over)
    assert client.post("/predict", content=under).status_code == 200
    refused = client.post("/predict", content=over)
    assert refused.status_code == 413 and refused.json() == {
        "error": f"the body is {len(over)} bytes; at most {MAX_BODY_BYTES}"
    }


def test_small_requests_of_a_fast_model_stay_on_the_event_loop() -> None:
    policy = InlinePolicy(limit_ms=1.0, weight=0.5)
    assert policy.inline("champion", 1) and not policy.inline("champion", INLINE_INSTANCES + 1)
    policy.record("champion", 1, 5.0)  # a slow predict: to the thread pool
    assert not policy.inline("champion", 1) and policy.inline("challenger", 1)
    for _ in range(10):
        policy.record("champion", 1, 0.2)  # fast again: back on the loop
    assert policy.inline("champion", 1)
    policy.record("champion", INLINE_INSTANCES + 1, 500.0)  # large requests do not count
    assert policy.inline("champion", 1) and not InlinePolicy(limit_ms=0).inline("champion", 1)
