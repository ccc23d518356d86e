"""Prints the installed emotion-pipeline's runtime requirements, minus the packages named with --exclude, plus
the requirements of the extras named with --extra.

Used by docker/Dockerfile to build the ``runtime`` and ``transformer`` images from the single source of
dependencies (setup.py), pinned by constraints.txt, without PyCaret:

    pip install --no-deps . && python docker/runtime_requirements.py --exclude pycaret > requirements.txt
    python docker/runtime_requirements.py --exclude pycaret --extra transformer  # + torch, transformers, ...
    pip install -c constraints.txt -r requirements.txt

Extras are printed only when named (never ``dev`` in the images), without their ``extra == ...`` marker (pip
would read it as false in a requirements file). Standard library only: it runs before anything else is
installed.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import PackageNotFoundError, metadata, requires

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# The extra clause of a requirement's marker (setup.py joins it to any other marker with ``and``).
_EXTRA = re.compile(r"""\(?\s*extra\s*==\s*['"]([^'"]+)['"]\s*\)?""")
_AND = re.compile(r"^\s*and\s+|\s+and\s*$")


def normalise(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(distribution: str, exclude: list[str], extras: list[str] | None = None) -> list[str]:
    """Requirement strings of ``distribution`` without the excluded projects, with those of ``extras`` only
    among the extras-only ones (their ``extra == ...`` clause removed, any other marker kept)."""
    try:
        declared = requires(distribution) or []
    except PackageNotFoundError as err:
        raise SystemExit(f"{distribution} is not installed (pip install --no-deps . first)") from err
    excluded = {normalise(name) for name in exclude}
    wanted = {normalise(name) for name in extras or []}
    kept = []
    for requirement in declared:
        spec, _, marker = requirement.partition(";")
        extra = _EXTRA.search(marker)
        if extra:
            if normalise(extra.group(1)) not in wanted:
                continue
            rest = _AND.sub("", _EXTRA.sub("", marker, count=1).strip()).strip()
            requirement = f"{spec.strip()}; {rest}" if rest else spec
        match = _NAME.match(spec)
        if match and normalise(match.group(1)) not in excluded:
            kept.append(requirement.strip())
    return kept


def _declared_extras(distribution: str) -> list[str]:
    """The extras ``distribution``'s metadata declares (``Provides-Extra``)."""
    try:
        return metadata(distribution).get_all("Provides-Extra") or []
    except PackageNotFoundError as err:
        raise SystemExit(f"{distribution} is not installed (pip install --no-deps . first)") from err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--distribution", default="emotion-pipeline")
    parser.add_argument("--exclude", action="append", default=[], help="project to leave out; repeatable")
    parser.add_argument("--extra", action="append", default=[], help="extra whose requirements to add; repeatable")
    args = parser.parse_args(argv)
    declared = {normalise(name) for name in _declared_extras(args.distribution)}
    unknown = [name for name in args.extra if normalise(name) not in declared]
    if unknown:
        has = ", ".join(sorted(declared)) or "none"
        parser.error(f"{args.distribution} declares no extra {', '.join(unknown)} (it has: {has})")
    for line in runtime_requirements(args.distribution, args.exclude, args.extra):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
