"""Ingest from gs:// for real, against gcp-storage-emulator (the GCS JSON API) on a loopback port.

The emulator runs as a subprocess, in memory. google-cloud-storage uploads the demo data; the ingest logic and
the ingest component read it back through fsspec/gcsfs, exactly as in a Vertex AI or KFP step. Only the server
differs from production: no real GCS can be reached from the test machines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("gcp_storage_emulator", reason="gcp-storage-emulator (dev extra) is not installed")

BUCKET = "emotion-data"


@pytest.fixture(scope="module")
def gcs(gcs_emulator) -> Iterator[str]:
    """The GCS emulator with the demo data uploaded; yields the bucket's gs:// prefix."""
    patch = pytest.MonkeyPatch()
    try:
        bucket = gcs_emulator.use(patch).create_bucket(BUCKET)
        demo = Path(__file__).resolve().parents[2] / "pipelines" / "data" / "demo_emotions.csv"
        bucket.blob("demo/train.csv").upload_from_filename(str(demo))
        frame = pd.read_csv(demo)
        bucket.blob("demo/heldout.txt").upload_from_string(
            "\n".join(f"{t};{label}" for t, label in zip(frame["text"][:60], frame["label"][:60], strict=True))
        )
        yield f"gs://{BUCKET}"
    finally:
        patch.undo()
        gcs_emulator.release()


def test_read_labelled_texts_from_gcs_matches_the_local_file(gcs: str, demo_csv: Path) -> None:
    from components.steps.ingest import read_labelled_texts

    remote = read_labelled_texts(f"{gcs}/demo/train.csv")
    local = read_labelled_texts(str(demo_csv))
    assert len(remote) == 960
    assert set(remote["source"]) == {f"{gcs}/demo/train.csv"}
    pd.testing.assert_frame_equal(remote[["text", "label"]], local[["text", "label"]])


def test_ingest_sources_reads_train_and_test_from_gcs(gcs: str) -> None:
    from components.steps.ingest import ingest_sources

    train, test = ingest_sources([f"{gcs}/demo/train.csv"], f"{gcs}/demo/heldout.txt")
    assert len(train) == 960 and len(test) == 60
    assert list(test.columns[:2]) == ["text", "label"]


@pytest.mark.parametrize("path", ["demo/missing.csv", "../no-such-bucket/train.csv"])
def test_a_missing_object_names_the_uri(gcs: str, path: str) -> None:
    from components.checks.errors import DataError
    from components.steps.ingest import ingest_sources

    uri = f"{gcs}/{path}" if not path.startswith("..") else "gs://no-such-bucket/train.csv"
    with pytest.raises(DataError, match=f"^{re.escape(uri)}: file not found$"):
        ingest_sources([uri])


def test_the_ingest_component_reads_gcs_and_writes_its_datasets(gcs: str, tmp_path: Path) -> None:
    from kfp import dsl

    from components.arms import select_arms
    from components.kfp_components import build_components

    def artifact(cls: type, name: str) -> dsl.Artifact:
        item = cls(name=name, uri=str(tmp_path / name))
        item.path = str(tmp_path / name)
        return item

    train, test = artifact(dsl.Dataset, "train"), artifact(dsl.Dataset, "test")
    profile, metrics = artifact(dsl.Artifact, "step_profile"), artifact(dsl.Metrics, "step_metrics")
    build_components(select_arms()).ingest.python_func(
        train_uris=[f"{gcs}/demo/train.csv"],
        train=train,
        test=test,
        step_profile=profile,
        step_metrics=metrics,
        test_size=0.25,
    )
    train_rows, test_rows = pd.read_parquet(train.path), pd.read_parquet(test.path)
    assert (len(train_rows), len(test_rows)) == (720, 240)
    assert set(train_rows["source"]) == {f"{gcs}/demo/train.csv"}
    assert train.metadata["sources"] == [f"{gcs}/demo/train.csv"]
    assert Path(profile.path).stat().st_size > 0


def test_the_ingest_component_leaves_no_result_for_a_missing_object(gcs: str, tmp_path: Path) -> None:
    from kfp import dsl

    from components.arms import select_arms
    from components.checks.errors import DataError
    from components.kfp_components import build_components

    outputs = {}
    kinds = {"train": dsl.Dataset, "test": dsl.Dataset, "step_profile": dsl.Artifact, "step_metrics": dsl.Metrics}
    for name, kind in kinds.items():
        outputs[name] = kind(name=name, uri=str(tmp_path / name))
        outputs[name].path = str(tmp_path / name)
    with pytest.raises(DataError, match=re.escape("missing.csv: file not found")):
        build_components(select_arms()).ingest.python_func(train_uris=[f"{gcs}/demo/missing.csv"], **outputs)
    assert not (tmp_path / "train").exists() and not (tmp_path / "test").exists()


def test_the_fingerprint_of_a_gcs_object_is_its_generation_and_changes_when_it_is_rewritten(gcs_emulator) -> None:
    """What keys ingest's cache on GCS: an object rewritten under the same name gets a new generation."""
    import json

    from components.checks.errors import DataError
    from components.steps.fingerprint import fingerprint_uris, is_cacheable

    patch = pytest.MonkeyPatch()
    try:
        bucket = gcs_emulator.use(patch).create_bucket("fingerprints")
        blob = bucket.blob("train.csv")
        blob.upload_from_string("text,label\nhappy day,joy\n")
        first = fingerprint_uris(["gs://fingerprints/train.csv", ""])
        assert fingerprint_uris(["gs://fingerprints/train.csv"]) == first  # unchanged object: same fingerprint
        version = json.loads(first)["gs://fingerprints/train.csv"]
        assert {"generation", "md5Hash", "size"} <= set(version) and is_cacheable(first)
        blob.upload_from_string("text,label\nhappy day,joy\n")  # same bytes, rewritten: a new generation
        assert fingerprint_uris(["gs://fingerprints/train.csv"]) != first
        with pytest.raises(DataError, match=re.escape("gs://fingerprints/missing.csv: file not found")):
            fingerprint_uris(["gs://fingerprints/missing.csv"])
    finally:
        patch.undo()
        gcs_emulator.release()
