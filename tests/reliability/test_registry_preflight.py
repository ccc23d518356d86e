"""Issue 27, defects 5 and 6: the registry is checked before the first step (reachable within the network time
limit, writable, migrated) and concurrent registrations into one fresh registry get distinct versions."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import good_rows, run_cli, write_lines

from components.registry.store import RegistryError, check_registry

ROOT = Path(__file__).resolve().parents[2]
REGISTER = """
import sys
from pathlib import Path
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from components.io import atomic
from components.registry.packaging import package_model
from components.registry.store import open_registry
from components.text.rules import TextNormaliser

work, registry = Path(sys.argv[1]), sys.argv[2]
work.mkdir(parents=True)
texts, labels = ["happy day", "sad night"] * 5, ["joy", "sadness"] * 5
model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
atomic.dump_joblib(work / "model.joblib", model)
package = package_model(work / "model.joblib", work / "package", text_rules=TextNormaliser(), metadata={"task": "t"})
(work / "ready").write_text("1")
while not all((work.parent / name / "ready").exists() for name in ("a", "b")):
    pass
version = open_registry(registry).register("m", package, str(package), tags={}, metrics={}, description="",
                                           image="", evaluation={})
print(version.version)
"""


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only, for root too (the immutable attribute)."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], check=False, capture_output=True).returncode:
            pytest.skip("chattr +i is not available (root writes into read-only files)")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=False)
        return
    path.chmod(0o444)
    try:
        yield
    finally:
        path.chmod(0o644)


def test_a_read_only_registry_fails_the_run_before_the_first_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from components.registry.store import open_registry

    open_registry(str(tmp_path / "registry"))
    capsys.readouterr()
    train = write_lines(tmp_path / "train.csv", "text,label", *good_rows())
    with read_only(tmp_path / "registry" / "mlflow.db"):
        outcome = run_cli(tmp_path, capsys, "--train", str(train), "--registry", str(tmp_path / "registry"))
    assert outcome.status == 1 and "cannot be written" in outcome.err and "readonly" in outcome.err
    assert len(outcome.err.strip().splitlines()) == 1
    assert not (outcome.output / "artifacts").exists(), "no step ran"


def test_a_refused_connection_fails_the_run_before_the_first_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], closed_port_url: str
) -> None:
    registry = closed_port_url.replace("/train.csv", "").replace("http://", "http://user:PW@")
    outcome = run_cli(tmp_path, capsys, "--registry", registry)
    assert outcome.status == 1 and "not reachable" in outcome.err and "PW" not in outcome.err
    assert len(outcome.err.strip().splitlines()) == 1
    assert not (outcome.output / "artifacts").exists(), "no step ran"


def test_a_silent_registry_server_is_given_up_after_the_network_timeout(silent_server: str) -> None:
    with pytest.raises(RegistryError, match=r"not reachable within 1 s"):
        check_registry(silent_server.replace("/train.csv", ""), timeout=1.0)


def test_a_database_registry_without_its_driver_is_one_line() -> None:
    with pytest.raises(RegistryError, match=r"database driver is not installed") as raised:
        check_registry("postgresql://user:PW@127.0.0.1:1/db")
    assert "PW" not in str(raised.value) and "\n" not in str(raised.value)


def test_two_registrations_into_one_fresh_registry_get_distinct_versions(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    registry = str(tmp_path / "registry")
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", REGISTER, str(tmp_path / name), registry],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-500:] for _, err in outputs]
    assert sorted(out.strip() for out, _ in outputs) == ["1", "2"]
