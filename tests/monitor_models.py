"""Registered champions with a reference profile, for the monitoring tests: fitted, packaged and profiled as the
register step does it (``write_reference_profile``), then registered and made champion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DAIR_TRAIN = DATA / "dair_ai_emotion" / "train.txt"
DAIR_VAL = DATA / "dair_ai_emotion" / "val.txt"
TWEETS = DATA / "ml_in_the_clouds" / "emotions_test.csv"


def read_dair(path: Path) -> pd.DataFrame:
    """``text;label`` lines as a frame (``text``, ``label``, ``source``: the path, as ingest records it)."""
    rows = [line.rstrip("\n").rpartition(";") for line in path.read_text(encoding="utf-8").splitlines() if line]
    return pd.DataFrame({"text": [r[0] for r in rows], "label": [r[2] for r in rows], "source": str(path)})


def split(rows: pd.DataFrame, test_size: float = 0.2, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified, seeded split (as ingest does without a test file)."""
    train, test = train_test_split(rows, test_size=test_size, stratify=rows["label"], random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def fit_svm(train: pd.DataFrame) -> Any:
    """Word 1–2-gram TF-IDF and a linear SVM: a few seconds on dair-ai's 16,000 rows."""
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2), LinearSVC(dual=True))
    return model.fit(train["text"].tolist(), train["label"].tolist())


def register_champion(
    folder: Path, model: Any, train: pd.DataFrame, test: pd.DataFrame, name: str = "emotion-test", task: str = "test"
) -> tuple[str, str]:
    """Packages ``model`` with its reference profile, registers it in ``folder/registry`` and makes it champion.

    Returns:
        The registry URI and ``NAME@champion``.
    """
    from components.models.scoring import predict_with_scores
    from components.models.trained import score
    from components.registry.packaging import package_model
    from components.registry.store import open_registry
    from components.steps.register import Candidate, write_reference_profile
    from components.text.rules import TextNormaliser

    path = folder / "model.joblib"
    joblib.dump(model, path)
    scored = predict_with_scores(model, test["text"].tolist())
    labels = sorted(set(train["label"]))
    package = package_model(
        path,
        folder / "package",
        text_rules=TextNormaliser(),
        metadata={"task": task, "labels": labels, "model": "scratch"},
    )
    candidate = Candidate("scratch", "test", package, str(package), scored.labels, "", scored)
    write_reference_profile(candidate, train, test, task=task, model_name=name)
    registry = open_registry(str(folder / "registry"))
    metrics = score(test["label"].tolist(), scored.labels)
    version = registry.register(
        name, package, str(package), tags={"task": task}, metrics=metrics, description="test", image="", evaluation={}
    )
    registry.set_champion(name, version.version)
    return str(folder / "registry"), f"{name}@champion"
