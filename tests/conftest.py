"""Shared fixtures: the real datasets beside the repo (optional) and the shipped demo data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()
DEMO_CSV = REPO_ROOT / "pipelines" / "data" / "demo_emotions.csv"


@pytest.fixture
def shared_data() -> Path:
    """The real datasets in ../shared/data; the test is skipped where they are absent."""
    if not (SHARED_DATA / "dair_ai_emotion" / "train.txt").is_file():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (../shared/data from the repo root)")
    return SHARED_DATA


@pytest.fixture
def demo_csv() -> Path:
    return DEMO_CSV
