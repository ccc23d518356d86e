"""Per-text normalisation shared by the clean step (training and test rows) and the served model (every request).

The registered model carries a :class:`TextNormaliser` with the run's cleaning settings, so a text sent to
``emotion-pipeline serve`` or ``predict`` is repaired and normalised exactly as the training and test texts were.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import ftfy

WHITESPACE = re.compile(r"\s+")
URL = re.compile(
    r"(?:\bhttps?://|\bwww\.)\S+"  # with a scheme or www.
    r"|(?<![\w@.])(?:[a-z0-9-]+\.)+[a-z]{2,6}/\S*"  # or a domain and a path, without a scheme: bit.ly/x
    r"|(?<![\w@.])(?:[a-z0-9-]+\.)+(?:com|net|org)\b",  # or a bare .com/.net/.org domain: myspace.com
    re.IGNORECASE,
)
MENTION = re.compile(r"(?<![\w@])@\w+")
RETWEET = re.compile(r"^(?:\s*rt\s+@\w+\s*:?)+\s*", re.IGNORECASE)  # "RT @user: " at the start, maybe repeated
#: NUL and the other C0 controls but tab and line breaks, and DEL: each becomes a space (a NUL no longer cuts a text).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FTFY = ftfy.TextFixerConfig(unescape_html=False, explain=False)
#: The ASCII characters ftfy changes with :data:`_FTFY` (control characters it removes, ``\r`` it turns into
#: ``\n``): ASCII text without them it returns unchanged (it never reads ASCII as mojibake), so it is not called.
_FTFY_ASCII_CHANGES = re.compile(r"[\x00-\x08\x0b\x0d-\x1f\x7f]")


def normalise_text(text: str, lowercase: bool = True) -> str:
    """Trims, collapses runs of white space to one space and, by default, lower-cases."""
    text = WHITESPACE.sub(" ", text).strip()
    return text.lower() if lowercase else text


def replace_controls(text: str) -> str:
    """Control characters (:data:`CONTROL`) become spaces."""
    return CONTROL.sub(" ", text)


def unescape_html(text: str) -> str:
    """Unescapes HTML entities, repeatedly for double-escaped text (``&amp;quot;`` → ``"``), at most 3 times."""
    for _ in range(3):
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    return text


def drop_retweet_marker(text: str) -> str:
    """Removes the retweet marker (:data:`RETWEET`) at the start."""
    return RETWEET.sub("", text) if "@" in text else text  # each pattern needs a character: a test costs far less


def replace_urls(text: str, token: str) -> str:
    """Replaces every URL (:data:`URL`) with ``token``, as written."""
    return URL.sub(lambda _: token, text) if "." in text or "://" in text else text


def replace_mentions(text: str, token: str) -> str:
    """Replaces every @mention (:data:`MENTION`) with ``token``, as written."""
    return MENTION.sub(lambda _: token, text) if "@" in text else text


def fix_mojibake(text: str) -> str:
    """Repairs mojibake with ftfy; characters it can only restore as U+FFFD (lost at the source) become spaces."""
    if text.isascii() and not _FTFY_ASCII_CHANGES.search(text):  # what ftfy would return, in a fraction of the time
        return text
    return ftfy.fix_text(text, _FTFY).replace("\ufffd", " ")


@dataclass(frozen=True)
class TextNormaliser:
    """The per-text rules of cleaning (control characters, HTML, mojibake, retweet marker, URLs, mentions, white space
    and case), in this order: ``components/steps/clean.py`` applies :meth:`rules` to the training and test texts,
    the served model calls the normaliser on every text, so serving sees the texts training saw at any setting.

    Attributes:
        unescape_html: Unescape HTML entities.
        fix_mojibake: Repair mojibake with ftfy.
        url_token: Replaces URLs; empty to leave them.
        mention_token: Replaces @mentions; empty to leave them.
        lowercase: Lower-case (white space is always collapsed and trimmed).
    """

    unescape_html: bool = True
    fix_mojibake: bool = True
    url_token: str = "xxurl"
    mention_token: str = "xxuser"
    lowercase: bool = True

    def rules(self) -> list[tuple[str, Callable[[str], str]]]:
        """The rules these settings switch on, in order, each with the name ``clean``'s report counts it under.

        The one implementation of every per-text rule: ``clean`` maps each over its texts (counting the rows each
        changes), the served model applies them all to every request's texts (:meth:`__call__`).
        """
        url, mention, lowercase = self.url_token, self.mention_token, self.lowercase
        switched = [
            ("control_characters", True, replace_controls),
            ("html_entities", self.unescape_html, unescape_html),
            ("mojibake", self.fix_mojibake, fix_mojibake),
            ("retweets", bool(mention), drop_retweet_marker),  # with mentions, before URLs
            ("urls", bool(url), lambda text: replace_urls(text, url)),
            ("mentions", bool(mention), lambda text: replace_mentions(text, mention)),
            ("whitespace_case", True, lambda text: normalise_text(text, lowercase)),
        ]
        return [(name, rule) for name, on, rule in switched if on]

    def __call__(self, text: str) -> str:
        for _, rule in self.rules():
            text = rule(text)
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TextNormaliser:
        """From :meth:`to_dict`'s output, or any mapping with these keys (others are ignored)."""
        return cls(**{key: values[key] for key in cls.__dataclass_fields__ if key in values})
