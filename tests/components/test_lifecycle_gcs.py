"""gs:// for real against gcp-storage-emulator: batch predictions read from and written to GCS, and a registered
version's folder loaded from GCS as Vertex AI hands it to the serving container (``AIP_STORAGE_URI``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from lifecycle_models import demo_split, fit, save

from components.models.scoring import predict_with_scores

pytest.importorskip("gcp_storage_emulator", reason="gcp-storage-emulator (dev extra) is not installed")

BUCKET = "emotion-lifecycle"


@pytest.fixture(scope="module")
def gcs(gcs_emulator) -> Iterator[object]:
    patch = pytest.MonkeyPatch()
    try:
        bucket = gcs_emulator.use(patch).create_bucket(BUCKET)
        yield bucket
    finally:
        patch.undo()
        gcs_emulator.release()


class Keyword:
    def predict(self, texts):
        return ["joy" if "happy" in t else "sadness" for t in texts]

    def predict_texts(self, texts):
        return predict_with_scores(self, texts)


def test_batch_predictions_from_and_to_gcs(gcs) -> None:
    import fsspec

    from components.steps.batch_predict import BatchPredictOptions, predict_file

    gcs.blob("in/val.txt").upload_from_string("i am happy;joy\nso sad;sadness\nhappy again;sadness\n")
    out = f"gs://{BUCKET}/out/predictions.jsonl"
    result = predict_file(Keyword(), f"gs://{BUCKET}/in/val.txt", out, options=BatchPredictOptions(chunk_rows=2))
    assert result.rows == 3 and result.accuracy == round(2 / 3, 4)
    with fsspec.open(out, "r") as handle:
        records = [json.loads(line) for line in handle]
    assert [r["label"] for r in records] == ["joy", "sadness", "joy"] and records[2]["true_label"] == "sadness"


def test_a_version_folder_on_gcs_loads_for_serving(gcs, tmp_path: Path) -> None:
    from components.registry.packaging import package_model
    from components.text.rules import TextNormaliser
    from pipelines.cli.lifecycle import _load_from_storage

    train, _ = demo_split()
    folder = package_model(
        save(fit("lr", train), tmp_path / "lr"),
        tmp_path / "package",
        text_rules=TextNormaliser(),
        metadata={"task": "demo", "labels": sorted(set(train["label"]))},
    )
    for path in folder.rglob("*"):
        if path.is_file():
            gcs.blob(f"models/v1/{path.relative_to(folder)}").upload_from_filename(str(path))
    model, info = _load_from_storage(f"gs://{BUCKET}/models/v1")
    assert model.predict_texts(["I am so HAPPY"]).score_kind == "probability"
    assert info["model"] == "demo" and info["registry"] == f"gs://{BUCKET}/models/v1"
