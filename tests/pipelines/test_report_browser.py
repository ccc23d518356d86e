"""The HTML report rendered by a real browser (headless Chromium): the screenshot must show a page, not a blank.

Needs the Debian package ``chromium`` (``apt-get install -y chromium``); skipped when it is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from components.models.bundle import ArmResult
from components.steps.profile import build_reports

RUN = Path(__file__).resolve().parents[1] / "data" / "report_run"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def screenshot(html: Path, png: Path, profile_dir: Path, size: tuple[int, int] = (1280, 2000)) -> np.ndarray:
    """Renders ``html`` in headless Chromium and returns the screenshot's pixels (height, width, RGB[A])."""
    command = [
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={profile_dir}",
        f"--screenshot={png}",
        f"--window-size={size[0]},{size[1]}",
        html.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert png.is_file(), f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    return image.imread(str(png))


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
def test_report_renders_in_chromium(tmp_path: Path):
    load = lambda name: json.loads((RUN / name).read_text(encoding="utf-8"))  # noqa: E731
    steps = ("ingest", "clean", "vectorise", "train_scratch", "train_automl", "evaluate")
    board = load("train-automl/automl_leaderboard")
    reports = build_reports(
        "emotion6",
        {step: load(f"{step.replace('_', '-')}/step_profile") for step in steps},
        load("evaluate/evaluation"),
        load("clean/data_stats"),
        None,
        [ArmResult("scratch", "from scratch"), ArmResult("automl", "AutoML", extras={"leaderboard": board})],
    )
    html = tmp_path / "report.html"
    html.write_text(reports.html, encoding="utf-8")

    pixels = screenshot(html, tmp_path / "report.png", tmp_path / "chromium-profile")
    assert pixels.shape[:2] == (2000, 1280)
    rgb = pixels[..., :3]
    assert rgb.std() > 0.05, "the screenshot is one flat colour: the page did not render"
    # The header band is dark and the cards below it light: the stylesheet was applied.
    assert rgb[:60].mean() < 0.3 < rgb[400:].mean()
    # Charts drew: the models' blue and orange bars are on the first screen.
    blue = (np.abs(rgb - np.array([0x1F, 0x77, 0xB4]) / 255).max(axis=-1) < 0.05).sum()
    orange = (np.abs(rgb - np.array([0xFF, 0x7F, 0x0E]) / 255).max(axis=-1) < 0.05).sum()
    assert blue > 1000 and orange > 1000, (blue, orange)
