"""The registered model's format: an MLflow pyfunc model folder holding the fitted model and its text rules.

``package_model`` writes the folder (``MLmodel``, ``python_model.pkl``, ``artifacts/model.joblib``, the pinned
requirements); ``load_packaged_model`` reads one back as a :class:`PackagedModel`, which normalises texts as the
training texts were (:class:`~components.text.rules.TextNormaliser`) and predicts labels with per-class scores
(:func:`~components.models.scoring.predict_with_scores`; a scikit-learn model of TF-IDF blocks and linear
classifiers is compiled when loaded, :mod:`components.models.compiled`). The same folder loads with
``mlflow.pyfunc.load_model`` (a DataFrame with a ``text`` column in, ``label`` and ``scores`` columns out) and is
what Vertex AI copies when a version is uploaded (``AIP_STORAGE_URI``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow.pyfunc

from components.models.compiled import compile_model
from components.models.explain import DEFAULT_TOP, explain_texts
from components.models.scoring import ScoredPredictions, predict_with_scores
from components.text.rules import TextNormaliser

#: Installed distributions recorded as the model's requirements (those present, at their installed versions).
REQUIREMENTS = ("emotion-pipeline", "scikit-learn", "joblib", "numpy", "pandas", "scipy", "ftfy", "mlflow", "pycaret")


def package_version(name: str = "emotion-pipeline") -> str:
    """The installed version of a distribution ("unknown" when it is not installed)."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def quiet_downloads() -> Iterator[None]:
    """No MLflow progress bars (they fill step logs and server output) while the block runs."""
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR as BAR

    shown = BAR.get_raw()
    BAR.set("false")
    try:
        yield
    finally:
        if shown is None:
            BAR.unset()
        else:
            BAR.set(shown)


class EmotionModel(mlflow.pyfunc.PythonModel):
    """The pyfunc wrapper: text rules then the fitted model; ``predict`` gives labels and per-class scores."""

    # predict takes a DataFrame or a list of texts, so no type hints: MLflow would validate inputs by them (and
    # warns when they are missing unless told to skip its type-hint wrapper, as here).
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        import joblib

        self.model = joblib.load(context.artifacts["model"])
        self.normaliser = TextNormaliser.from_dict(dict(context.model_config or {}).get("text_rules", {}))
        self.compiled = compile_model(self.model)

    def predict_texts(self, texts: Sequence[str]) -> ScoredPredictions:
        """Labels and per-class scores of raw texts (normalised here first), by the model's compiled form when it
        has one (:mod:`components.models.compiled`: the same predictions, without scikit-learn's per-call work)."""
        model = getattr(self, "compiled", None) or self.model
        return predict_with_scores(model, [self.normaliser(str(text)) for text in texts])

    def explain_texts(self, texts: Sequence[str], top: int = DEFAULT_TOP) -> list[list[dict[str, Any]]]:
        """Per raw text (normalised here first), up to ``top`` ``{"feature": word, "weight": float}``: the words
        that pushed its prediction most toward its label, heaviest first (:mod:`components.models.explain`).

        Raises:
            ExplanationUnavailable: The model cannot be explained (a ``ValueError`` with a one-line reason).
        """
        return explain_texts(self.model, [self.normaliser(str(text)) for text in texts], top)

    def predict(self, context, model_input, params=None):  # no type hints: MLflow would validate inputs by them
        import pandas as pd

        texts = model_input["text"].tolist() if isinstance(model_input, pd.DataFrame) else list(model_input)
        rows = self.predict_texts(texts).rows()
        return pd.DataFrame({"label": [r["label"] for r in rows], "scores": [r["scores"] for r in rows]})


def requirement_name(requirement: str) -> str:
    """The distribution a pip requirement names, normalised (``PyCaret[full]>=3`` → ``pycaret``)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0]).lower()


def pinned_requirements(extra: Sequence[str] = ()) -> list[str]:
    """The installed :data:`REQUIREMENTS` pinned to their versions, then ``extra`` (an arm's own requirements,
    e.g. ``torch==2.3.1``: its stack need not be installed where the model is packaged); an extra requirement
    replaces a pin of the same distribution."""
    given = {requirement_name(r) for r in extra}
    pins = [
        f"{name}=={package_version(name)}"
        for name in REQUIREMENTS
        if package_version(name) != "unknown" and requirement_name(name) not in given
    ]
    return pins + [r.strip() for r in extra if r.strip()]


def package_model(
    model_path: str | Path,
    target: str | Path,
    *,
    text_rules: TextNormaliser,
    metadata: Mapping[str, Any],
    requirements: Sequence[str] = (),
) -> Path:
    """Writes the MLflow model folder of a fitted model (``target`` is replaced if it exists).

    Args:
        model_path: The fitted model (joblib file written by a training step).
        target: The folder to write.
        text_rules: The cleaning step's text rules, applied to every text before the model.
        metadata: Recorded in ``MLmodel`` (task, labels, data fingerprint, metrics …); JSON values.
        requirements: The arm's own pip requirements (its stack), added to the pinned ones
            (:func:`pinned_requirements`).

    Returns:
        The folder.
    """
    target = Path(target)
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    pins = pinned_requirements(requirements)
    with quiet_downloads():
        mlflow.pyfunc.save_model(
            path=str(target),
            python_model=EmotionModel(),
            artifacts={"model": str(model_path)},
            model_config={"text_rules": text_rules.to_dict()},
            pip_requirements=pins,
            metadata=dict(metadata),
        )
    return target


def folder_digest(folder: str | Path) -> str:
    """SHA-256 over every file of a model folder (relative path and content, in path order): recorded when a version
    is registered, checked before its files are unpickled (:func:`verify_folder`)."""
    folder, digest = Path(folder), hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def verify_folder(folder: str | Path, recorded: str, name: str) -> None:
    """Refuses a model folder whose files are not those registered (changed, added, removed or never recorded).

    Raises:
        ModelIntegrityError: The digest differs from ``recorded`` (a prefix of it, as Vertex AI labels cut it), or
            nothing was recorded.
    """
    if not recorded:
        raise ModelIntegrityError(
            f"{name}: no file hash was recorded at registration; its files are not loaded "
            "(they are pickles: register it again with this version)"
        )
    if not folder_digest(folder).startswith(recorded.lower()):
        raise ModelIntegrityError(
            f"{name}: its files differ from those registered (SHA-256 mismatch); they are not "
            "loaded (corrupted, or changed after registration)"
        )


class ModelIntegrityError(ValueError):
    """A registered version's files are not the ones registered: they are never unpickled."""


def load_packaged_model(folder: str | Path) -> tuple[EmotionModel, dict[str, Any]]:
    """Loads a folder written by :func:`package_model`.

    Returns:
        The model (``predict_texts``) and the metadata recorded with it.
    """
    with quiet_downloads():
        loaded = mlflow.pyfunc.load_model(str(folder))
    return loaded.unwrap_python_model(), dict(loaded.metadata.metadata or {})
