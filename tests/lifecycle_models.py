"""Small fitted text → label models on the shipped demo data, and their evaluation, for the lifecycle tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import LinearSVC

from components.models.trained import MajorityVote

DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "data" / "demo_emotions.csv"


def demo_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo sentences, lower-cased, split 80/20 in order (texts and labels as the clean step leaves them)."""
    rows = pd.read_csv(DEMO).rename(columns=str.lower)[["text", "label"]]
    rows["text"] = rows["text"].str.lower().str.split().str.join(" ")
    rows = rows.sample(frac=1.0, random_state=0).reset_index(drop=True)
    cut = int(len(rows) * 0.8)
    return rows.iloc[:cut].reset_index(drop=True), rows.iloc[cut:].reset_index(drop=True)


def fit(kind: str, train: pd.DataFrame) -> Any:
    """A fitted model: ``svm`` (decision_function), ``lr`` (predict_proba), ``vote`` (MajorityVote), ``weak``."""
    texts, labels = train["text"].tolist(), train["label"].tolist()
    if kind == "vote":
        members = [
            make_pipeline(TfidfVectorizer(), clf).fit(texts, labels)
            for clf in (LinearSVC(dual=True), LogisticRegression(max_iter=500), ComplementNB())
        ]
        return Pipeline([("vote", MajorityVote(members))])
    if kind == "weak":  # a model that only sees the first character: clearly worse
        return make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 1), max_features=3), ComplementNB()).fit(
            texts, labels
        )
    clf = LinearSVC(dual=True) if kind == "svm" else LogisticRegression(max_iter=500)
    return make_pipeline(TfidfVectorizer(), clf).fit(texts, labels)


def evaluation_of(models: dict[str, Any], test: pd.DataFrame, winner: str, metric: str = "macro_f1") -> dict:
    """An ``evaluate``-shaped result for the given models (scores computed, latency and size made up)."""
    from components.models.trained import score

    out = {}
    for i, (name, model) in enumerate(models.items()):
        predicted = [str(p) for p in model.predict(test["text"].tolist())]
        labels = sorted(set(test["label"]) | set(predicted))
        out[name] = {
            **score(test["label"].tolist(), predicted),
            "weighted_f1": 0.5,
            "labels": labels,
            "confusion_matrix": [[0] * len(labels)] * len(labels),
            "latency_p50_ms": 1.0 + i,
            "model_size_mb": 1.0 + i,
        }
    return {"models": out, "winner": winner, "winner_metric": metric, "comparison": None}


def save(model: Any, path: Path) -> str:
    joblib.dump(model, path)
    return str(path)


def registered(folder: Path, kind: str = "lr", name: str = "emotion-demo", arm: str = "") -> tuple[str, str]:
    """A registry folder with one champion version of a ``kind`` model fitted on the demo split (recorded as built
    by ``arm``, its version's ``model`` tag, when given).

    Returns:
        The registry URI and the model name.
    """
    from components.registry.packaging import package_model
    from components.registry.store import open_registry
    from components.text.rules import TextNormaliser

    train, _ = demo_split()
    model_path = save(fit(kind, train), folder / f"{kind}.joblib")
    labels = sorted(set(train["label"]))
    package = package_model(
        model_path,
        folder / "package",
        text_rules=TextNormaliser(),
        metadata={"task": "demo", "labels": labels, "model": kind},
    )
    registry = open_registry(str(folder / "registry"))
    tags = {"task": "demo", **({"model": arm} if arm else {})}
    version = registry.register(
        name, package, str(package), tags=tags, metrics={"accuracy": 0.5}, description="test", image="", evaluation={}
    )
    registry.set_champion(name, version.version)
    return str(folder / "registry"), name


def register_another(folder: Path, registry_uri: str, kind: str = "svm", name: str = "emotion-demo") -> str:
    """Registers a second version (a ``kind`` model on the demo split) beside :func:`registered`'s; the champion
    stays. Returns the new version's number."""
    from components.registry.packaging import package_model
    from components.registry.store import open_registry
    from components.text.rules import TextNormaliser

    train, _ = demo_split()
    model_path = save(fit(kind, train), folder / f"{kind}-another.joblib")
    labels = sorted(set(train["label"]))
    package = package_model(
        model_path, folder / "package-another", text_rules=TextNormaliser(), metadata={"task": "demo", "labels": labels}
    )
    registry = open_registry(registry_uri)
    version = registry.register(
        name,
        package,
        str(package),
        tags={"task": "demo"},
        metrics={"accuracy": 0.5},
        description="",
        image="",
        evaluation={},
    )
    return version.version
