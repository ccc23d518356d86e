"""The text rules' shortcuts (a substring or ASCII test before a costly pattern or ftfy) change no text."""

from __future__ import annotations

import random

import ftfy

from components.text import rules

PIECES = [
    "a",
    "b",
    "z",
    "Q",
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1b[36m",
    "\x7f",
    ".",
    "..",
    "://",
    "http",
    "https://",
    "www.",
    "www",
    "com",
    ".com",
    "bit.ly/x",
    "@",
    "@bob",
    "rt ",
    "RT @al: ",
    "&amp;",
    "é",
    "Ã©",
    "\ufffd",
    "\u2019",
    "ﬁ",
    "\x85",
    "\u2028",
    "1",
    "-",
    "/",
    ":",
    "_",
]


def texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    made = ["".join(rng.choices(PIECES, k=rng.randint(0, 12))) for _ in range(count)]
    ascii_only = [p for p in PIECES if p.isascii()]
    made += ["".join(rng.choices(ascii_only, k=rng.randint(0, 12))) for _ in range(count)]
    made += ["".join(chr(rng.randrange(128)) for _ in range(rng.randint(0, 20))) for _ in range(count)]
    return made


def test_each_shortcut_gives_the_full_rule() -> None:
    differ = [
        text
        for text in texts(2000, seed=0)
        if rules.fix_mojibake(text) != ftfy.fix_text(text, rules._FTFY).replace("\ufffd", " ")
        or rules.replace_urls(text, "xxurl") != rules.URL.sub(lambda _: "xxurl", text)
        or rules.replace_mentions(text, "xxuser") != rules.MENTION.sub(lambda _: "xxuser", text)
        or rules.drop_retweet_marker(text) != rules.RETWEET.sub("", text)
    ]
    assert differ == []


def test_the_rules_still_apply_where_their_character_is() -> None:
    assert rules.fix_mojibake("plain ascii") == "plain ascii"
    assert rules.fix_mojibake("a\rb") == "a\nb" and rules.fix_mojibake("caf\u00c3\u00a9") == "caf\u00e9"
    assert rules.replace_urls("see http://x and y.com/z", "U") == "see U and U"
    assert rules.replace_mentions("hi @bob", "U") == "hi U" and rules.drop_retweet_marker("RT @al: hi") == "hi"
