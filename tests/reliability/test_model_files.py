"""Issue 27, defects 8 and 11: a registered version's files are checked against the SHA-256 recorded at
registration before anything is unpickled, and no pruned training term (``stop_words_``) is ever saved."""

from __future__ import annotations

import pickle
from pathlib import Path

import joblib
import pytest
from lifecycle_models import registered
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from components.io import atomic
from components.registry.store import DIGEST_TAG, ModelRef, RegistryError, load_version, open_registry
from pipelines.cli.main import main

SECRET = "hunter2secretpassword"
ROOT = Path(__file__).resolve().parents[2]


class Payload:
    """Unpickling this creates a file: the sign that a crafted model file ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("registry")
    uri, _ = registered(folder)
    return folder, uri


def _model_file(folder: Path) -> Path:
    return next(p for p in (folder / "registry" / "artifacts").rglob("*.joblib"))


def test_a_crafted_model_file_is_refused_before_it_is_unpickled(
    registry: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, uri = registry
    target = _model_file(folder)
    original = target.read_bytes()
    marker = tmp_path / "pwned"
    target.write_bytes(pickle.dumps(Payload(marker)))
    try:
        with pytest.raises(RegistryError, match="differ from those registered"):
            load_version(open_registry(uri), ModelRef.parse("emotion-demo@champion"))
        (tmp_path / "in.csv").write_text("text\ni am happy\n", encoding="utf-8")
        status = main(
            [
                "predict",
                "--registry",
                uri,
                "--model",
                "emotion-demo@champion",
                "--input",
                str(tmp_path / "in.csv"),
                "--output",
                str(tmp_path / "out.csv"),
            ]
        )
        err = capsys.readouterr().err
        assert status == 1 and "SHA-256 mismatch" in err and len(err.strip().splitlines()) == 1
        assert not marker.exists(), "the crafted file ran code"
    finally:
        target.write_bytes(original)
    model, _, _ = load_version(open_registry(uri), ModelRef.parse("emotion-demo@champion"))  # intact: loads
    assert model.predict_texts(["i am so happy"]).labels


def test_a_version_without_recorded_hashes_is_not_loaded(registry: tuple[Path, str]) -> None:
    _, uri = registry
    store = open_registry(uri)
    store.client.delete_model_version_tag("emotion-demo", "1", DIGEST_TAG)
    with pytest.raises(RegistryError, match="no file hash was recorded"):
        load_version(store, ModelRef.parse("emotion-demo/1"))


def test_no_pruned_training_term_is_saved_or_registered(tmp_path: Path) -> None:
    from components.registry.packaging import package_model
    from components.text.rules import TextNormaliser

    texts = [f"common words here {i % 3}" for i in range(30)] + [f"my password is {SECRET}"]
    labels = ["joy", "sadness"] * 15 + ["joy"]
    model = make_pipeline(TfidfVectorizer(min_df=2), LogisticRegression()).fit(texts, labels)
    assert SECRET in model[0].stop_words_  # scikit-learn 1.4 keeps it (CVE-2024-5206)
    joblib.dump([{"m": model}], tmp_path / "raw.joblib")
    atomic.dump_joblib(tmp_path / "saved.joblib", [{"m": model}])
    assert SECRET.encode() in (tmp_path / "raw.joblib").read_bytes()
    assert SECRET.encode() not in (tmp_path / "saved.joblib").read_bytes()
    # register loads no model (an arm's stack need not be installed where it runs): the model file a training step
    # wrote is registered as it is, so the terms are forgotten when it is written, by every step
    model = make_pipeline(TfidfVectorizer(min_df=2), LogisticRegression()).fit(texts, labels)
    atomic.dump_joblib(tmp_path / "trained.joblib", model)  # as every training step writes its model
    package = package_model(tmp_path / "trained.joblib", tmp_path / "package", text_rules=TextNormaliser(), metadata={})
    assert not any(SECRET.encode() in p.read_bytes() for p in package.rglob("*") if p.is_file())
    writers = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "components").rglob("*.py")
        if path != ROOT / "components/io/atomic.py" and _pickles(path.read_text(encoding="utf-8"))
    ]
    assert not writers, f"model files written without atomic.dump_joblib: {writers}"


def _pickles(source: str) -> bool:
    """Whether a module pickles itself (``joblib.dump``, ``pickle.dump[s]``, cloudpickle's) instead of with
    atomic.dump_joblib."""
    return any(call in source for call in ("joblib.dump(", "pickle.dump"))
