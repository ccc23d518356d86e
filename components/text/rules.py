"""Per-text normalisation shared by the clean step (training and test rows) and the served model (every request).

The registered model carries a :class:`TextNormaliser` with the run's cleaning settings, so a text sent to
``emotion-pipeline serve`` or ``predict`` is repaired and normalised exactly as the training and test texts were.
"""

from __future__ import annotations

import html
import re
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
_FTFY = ftfy.TextFixerConfig(unescape_html=False, explain=False)


def normalise_text(text: str, lowercase: bool = True) -> str:
    """Trims, collapses runs of white space to one space and, by default, lower-cases."""
    text = WHITESPACE.sub(" ", text).strip()
    return text.lower() if lowercase else text


def unescape_html(text: str) -> str:
    """Unescapes HTML entities, repeatedly for double-escaped text (``&amp;quot;`` → ``"``), at most 3 times."""
    for _ in range(3):
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    return text


def fix_mojibake(text: str) -> str:
    """Repairs mojibake with ftfy; characters it can only restore as U+FFFD (lost at the source) become spaces."""
    return ftfy.fix_text(text, _FTFY).replace("\ufffd", " ")


@dataclass(frozen=True)
class TextNormaliser:
    """The per-text rules of cleaning (``components/steps/clean.py``: HTML, mojibake, retweet marker, URLs, mentions,
    white space and case), in the same order.

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

    def __call__(self, text: str) -> str:
        if self.unescape_html:
            text = unescape_html(text)
        if self.fix_mojibake:
            text = fix_mojibake(text)
        if self.mention_token:  # the retweet marker goes with mentions, before URLs (as in clean)
            text = RETWEET.sub("", text)
        if self.url_token:
            text = URL.sub(self.url_token, text)
        if self.mention_token:
            text = MENTION.sub(self.mention_token, text)
        return normalise_text(text, self.lowercase)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TextNormaliser:
        """From :meth:`to_dict`'s output, or any mapping with these keys (others are ignored)."""
        return cls(**{key: values[key] for key in cls.__dataclass_fields__ if key in values})
