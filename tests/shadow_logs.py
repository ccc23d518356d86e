"""Shadow and canary logs as ``serve`` writes them (the schema agreed in issue 25), and a registry of two demo
versions with reference profiles, for the shadow-report and promote tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
from lifecycle_models import demo_split, fit

MODEL = "emotion-demo"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def answer(version: str, label: str | None = None, scores: dict[str, float] | None = None, error: str = "") -> dict:
    """One side of a record: a label and scores, or an error."""
    side: dict[str, Any] = {"ref": f"{MODEL}/{version}", "version": version}
    if error:
        return side | {"error": error}
    return side | {"label": label, "scores": scores if scores is not None else {label: 1.0}}


def record(
    index: int,
    text: str,
    champion: dict | None,
    challenger: dict | None,
    mode: str = "shadow",
    request: str = "",
    answered_by: str = "champion",
    model: str = MODEL,
) -> dict:
    """One log line's object (``request`` defaults to one request per instance)."""
    return {
        "time": "2026-12-06T15:00:00Z",
        "request_id": request or f"{index:08x}",
        "instance": 0 if not request else index,
        "mode": mode,
        "model": model,
        "text_sha256": sha(text),
        "answered_by": answered_by,
        "champion": champion,
        "challenger": challenger,
    }


def shadow_lines(
    texts: Sequence[str], champion: Sequence[str], challenger: Sequence[str], versions: tuple[str, str] = ("1", "2")
) -> list[dict]:
    """A shadow log's records: both versions label every text."""
    return [
        record(i, text, answer(versions[0], a), answer(versions[1], b))
        for i, (text, a, b) in enumerate(zip(texts, champion, challenger, strict=True))
    ]


def write_log(path: Path, rows: Sequence[dict | str]) -> Path:
    """Writes records (objects) and raw lines (strings, e.g. malformed ones) as JSON Lines."""
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_labels(path: Path, texts: Sequence[str], labels: Sequence[str]) -> Path:
    """A labels file as ``predict`` reads it (JSON lines with text and label)."""
    rows = [json.dumps({"text": t, "label": y}, ensure_ascii=False) for t, y in zip(texts, labels, strict=True)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def scored_lines(texts: Sequence[str], models: dict[str, Any], mode: str = "shadow") -> list[dict]:
    """A log of real predictions: ``models`` is version → fitted model (champion first). Canary: alternate sides."""
    from components.models.scoring import predict_with_scores

    scored = {v: predict_with_scores(m, list(texts)) for v, m in models.items()}
    (first, a), (second, b) = scored.items()
    rows = []
    for i, text in enumerate(texts):
        sides = [
            answer(v, s.labels[i], dict(zip(s.classes, map(float, s.scores[i]), strict=True)))
            for v, s in ((first, a), (second, b))
        ]
        if mode == "canary":
            by = "champion" if i % 2 == 0 else "challenger"
            sides = [sides[0], None] if by == "champion" else [None, sides[1]]
            rows.append(record(i, text, *sides, mode="canary", answered_by=by))
        else:
            rows.append(record(i, text, *sides))
    return rows


def two_versions(folder: Path, kinds: tuple[str, str] = ("lr", "weak"), profile: bool = True) -> dict[str, Any]:
    """A folder registry with versions 1 (champion) and 2 of ``kinds`` fitted on the demo split, each with its
    reference profile (as register writes it) unless ``profile`` is False.

    Returns:
        ``registry`` (its URI), ``models`` (version → fitted model), ``test`` (the held-out rows).
    """
    from components.models.scoring import predict_with_scores
    from components.registry.packaging import package_model
    from components.registry.store import open_registry
    from components.steps.register import Candidate, write_reference_profile
    from components.text.rules import TextNormaliser

    train, test = demo_split()
    registry = open_registry(str(folder / "registry"))
    models = {}
    for version, kind in enumerate(kinds, start=1):
        model = fit(kind, train)
        path = folder / f"{kind}.joblib"
        joblib.dump(model, path)
        package = package_model(
            path,
            folder / f"package-{version}",
            text_rules=TextNormaliser(),
            metadata={"task": "demo", "labels": sorted(set(train["label"])), "model": kind},
        )
        if profile:
            scored = predict_with_scores(model, test["text"].tolist())
            candidate = Candidate("scratch", "test", package, str(package), scored.labels, "", scored)
            write_reference_profile(candidate, train, test, task="demo", model_name=MODEL)
        registry.register(
            MODEL,
            package,
            str(package),
            tags={"task": "demo", "model": "scratch"},
            metrics={"accuracy": 0.5},
            description="test",
            image="",
            evaluation={},
        )
        models[str(version)] = model
    registry.set_champion(MODEL, "1")
    return {"registry": str(folder / "registry"), "models": models, "test": test}
