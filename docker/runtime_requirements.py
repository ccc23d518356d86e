"""Prints the installed emotion-pipeline's runtime requirements, minus the packages named with --exclude.

Used by docker/Dockerfile to build the lean ``runtime`` image from the single source of dependencies
(setup.py), pinned by constraints.txt, without PyCaret:

    pip install --no-deps . && python docker/runtime_requirements.py --exclude pycaret > requirements.txt
    pip install -c constraints.txt -r requirements.txt

Extras (``dev``) are never printed. Standard library only: it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import PackageNotFoundError, requires

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(distribution: str, exclude: list[str]) -> list[str]:
    """Requirement strings of ``distribution`` without extras-only ones and without the excluded projects."""
    try:
        declared = requires(distribution) or []
    except PackageNotFoundError as err:
        raise SystemExit(f"{distribution} is not installed (pip install --no-deps . first)") from err
    excluded = {normalise(name) for name in exclude}
    kept = []
    for requirement in declared:
        spec, _, marker = requirement.partition(";")
        if "extra ==" in marker:
            continue
        match = _NAME.match(spec)
        if match and normalise(match.group(1)) not in excluded:
            kept.append(requirement.strip())
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--distribution", default="emotion-pipeline")
    parser.add_argument("--exclude", action="append", default=[], help="project to leave out; repeatable")
    args = parser.parse_args(argv)
    for line in runtime_requirements(args.distribution, args.exclude):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
