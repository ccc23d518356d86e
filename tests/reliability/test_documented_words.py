"""Issue 27, defect 13: every documented ``--set`` word works verbatim (``--set header=no``: YAML 1.1 would read
``no`` as false), a string option keeps any word, and a boolean one takes yes/no."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.cli.main import build_parser
from pipelines.cli.parameters import build_run_parameters
from pipelines.tasks import parse_assignment

ROOT = Path(__file__).resolve().parents[2]
RUN_WORDS = (
    "header",
    "separator",
    "leakage",
    "keep_extra_columns",
    "network_timeout_seconds",
    "on_champion_error",
    "automl_folds",
)


def documented(names: tuple[str, ...]) -> list[str]:
    """``KEY=VALUE`` of every ``--set`` for a run parameter in the README, the docs and the --help texts."""
    texts = [p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]]
    texts.append(build_parser().format_help())
    texts += [p.read_text(encoding="utf-8") for p in (ROOT / "pipelines" / "cli").glob("*.py")]
    found = {m for text in texts for m in re.findall(r"--set ([a-z_]+=[^\s`\"';,)]+)", text)}
    return sorted(item for item in found if item.partition("=")[0] in names)


def _run_parameters(*args: str) -> dict:
    return build_run_parameters(build_parser().parse_args(["run", *args]), cluster=False)


@pytest.mark.parametrize("assignment", documented(RUN_WORDS))
def test_every_documented_set_word_is_accepted_verbatim(assignment: str) -> None:
    key, _, raw = assignment.partition("=")
    parameters = _run_parameters("--set", assignment)
    assert str(parameters[key]).lower() == raw.lower() or parameters[key] == parse_assignment(assignment)[1]


def test_header_no_is_the_word_no() -> None:
    assert documented(("header",)) == ["header=no"]
    assert _run_parameters("--set", "header=no")["header"] == "no"


@pytest.mark.parametrize("word", ["no", "yes", "on", "off", "null", "1e3", "0x10", "~"])
def test_a_string_option_keeps_any_word(word: str) -> None:
    assert _run_parameters("--set", f"url_token={word}")["url_token"] == ("" if word in ("null", "~") else word)


@pytest.mark.parametrize(("word", "value"), [("no", False), ("false", False), ("yes", True), ("True", True)])
def test_a_boolean_option_takes_yes_and_no(word: str, value: bool) -> None:
    assert _run_parameters("--set", f"lowercase={word}")["lowercase"] is value
