"""Issue 27, defect 14 (rest): a copied folder registry reads its own files (or refuses in one line, never the
original's through the absolute paths MLflow recorded), and ``predict`` on an empty ``mlflow.db`` writes nothing and
says there is no registered model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lifecycle_models import registered

from components.registry.store import RegistryError, open_registry
from pipelines.cli.main import main


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uri, _ = registered(tmp_path_factory.mktemp("registry"))
    return Path(uri)


def _predict(registry: Path, tmp_path: Path) -> int:
    (tmp_path / "in.csv").write_text("text\nwhat a happy day\n", encoding="utf-8")
    return main(
        [
            "predict",
            "--registry",
            str(registry),
            "--model",
            "emotion-demo@champion",
            "--input",
            str(tmp_path / "in.csv"),
            "--output",
            str(tmp_path / "out.csv"),
        ]
    )


def test_a_copied_registry_reads_its_own_files(original: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    moved = original.with_name(original.name + "-away")
    original.rename(moved)  # the original's files are gone: a copy that read them fails
    try:
        assert _predict(copy, tmp_path) == 0
    finally:
        moved.rename(original)
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").startswith("text,")


def test_a_copy_without_its_files_is_refused_in_one_line(
    original: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    shutil.rmtree(copy / "artifacts")
    assert _predict(copy, tmp_path) == 1  # before: the original's files, silently
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"copied or moved from {original}" in err


def test_registering_into_a_copy_does_not_write_into_the_original(original: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    package = next(original.parent.glob("package"))
    with pytest.raises(RegistryError, match=f"copied or moved from {original}"):
        open_registry(str(copy)).register(
            "emotion-demo", package, str(package), tags={}, metrics={}, description="", image="", evaluation={}
        )


def test_predict_on_an_empty_database_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "registry"
    empty.mkdir()
    (empty / "mlflow.db").touch()
    assert _predict(empty, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no registered model" in err
    assert (empty / "mlflow.db").stat().st_size == 0 and [p.name for p in empty.iterdir()] == ["mlflow.db"]
