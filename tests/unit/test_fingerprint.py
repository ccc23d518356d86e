"""The fingerprint step: every input file's version, so that ingest is cached exactly while no file changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from components.checks.errors import DataError
from components.steps.fingerprint import UNVERSIONED, file_version, fingerprint_uris, is_cacheable


def test_a_local_file_is_versioned_by_mtime_inode_and_size(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("text,label\nhappy day,joy\n", encoding="utf-8")
    first = fingerprint_uris([str(data), ""])
    assert fingerprint_uris([str(data)]) == first  # unchanged: the same text, so ingest is served from the cache
    version = json.loads(first)[str(data)]
    assert set(version) == {"mtime", "ino", "size"} and is_cacheable(first)
    data.write_text("text,label\nsad day,sadness\n", encoding="utf-8")  # same size, new content
    os.utime(data, ns=(1_000_000_000, 1_000_000_000))
    assert fingerprint_uris([str(data)]) != first


def test_the_same_uri_twice_counts_once_and_order_does_not_matter(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x", encoding="utf-8")
    b.write_text("y", encoding="utf-8")
    assert fingerprint_uris([str(a), str(b), str(a)]) == fingerprint_uris([str(b), str(a)])


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (
            {"generation": "17", "md5Hash": "abc==", "size": 9, "updated": "…"},
            {"generation": "17", "md5Hash": "abc==", "size": 9},
        ),
        ({"ETag": '"e1"', "size": 9, "url": "https://x/y"}, {"ETag": '"e1"', "size": 9}),
        ({"name": "x", "size": 9, "type": "file"}, {}),  # nothing tells the version: unversioned
    ],
)
def test_file_version_keeps_the_fields_that_change_with_the_content(info: dict, expected: dict) -> None:
    assert file_version(info) == expected


def test_a_file_without_a_version_is_never_served_from_the_cache() -> None:
    """An https:// server that sends no ETag, Last-Modified or checksum: a fresh random fingerprint every time."""
    nonces = iter(["n1", "n2"])
    info = {"name": "https://host/train.csv", "size": 9}
    first = fingerprint_uris(["https://host/train.csv"], info=lambda uri: info, nonce=lambda: next(nonces))
    second = fingerprint_uris(["https://host/train.csv"], info=lambda uri: info, nonce=lambda: next(nonces))
    assert first != second and json.loads(first)["https://host/train.csv"] == {UNVERSIONED: "n1"}
    assert not is_cacheable(first)


def test_missing_files_and_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere\.csv: file not found"):
        fingerprint_uris([str(tmp_path / "nowhere.csv")])
    with pytest.raises(DataError, match="is a directory"):
        fingerprint_uris([str(tmp_path)])


def test_the_component_prints_and_returns_the_fingerprint(tmp_path: Path, capsys) -> None:
    from components.arms import select_arms
    from components.kfp_components import build_components

    data = tmp_path / "train.csv"
    data.write_text("x", encoding="utf-8")
    found = build_components(select_arms()).fingerprint.python_func(train_uris=[str(data)], test_uri="")
    assert found == fingerprint_uris([str(data)])
    assert "data fingerprint (cacheable)" in capsys.readouterr().out
