"""``emotion-pipeline monitor``: exit statuses and messages of what cannot work (the verdicts on real data are in
tests/unit/test_monitor_real_data.py)."""

from __future__ import annotations

from pathlib import Path

from lifecycle_models import registered

from pipelines.cli.main import main


def test_bad_command_lines_exit_2(tmp_path: Path, capsys) -> None:
    base = ["monitor", "--registry", str(tmp_path / "none"), "--model", "m@champion", "--input", "x.txt"]
    assert main(base) == 2
    assert "no registry there" in capsys.readouterr().err
    assert main([*base, "--psi-threshold", "0"]) == 2
    assert "psi_threshold must be" in capsys.readouterr().err
    assert main([*base[:4], "@", *base[5:]]) == 2
    assert "expected NAME@ALIAS" in capsys.readouterr().err


def test_a_version_without_profile_or_a_missing_batch_exits_1(tmp_path: Path, capsys) -> None:
    registry, name = registered(tmp_path)  # registered without a reference profile (as before monitoring)
    argv = ["monitor", "--registry", registry, "--model", f"{name}@champion", "--output", str(tmp_path / "out")]
    assert main([*argv, "--input", str(tmp_path / "missing.txt")]) == 1
    assert "no reference profile" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing half-written
