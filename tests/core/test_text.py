"""core/text.py: candidate-made text cannot drive the terminal it is shown on."""

from __future__ import annotations

import pytest

from rewardsmith.core.text import printable

ATTACKS = {
    "osc52 clipboard write": "\x1b]52;c;cm0gLXJmIH4K\x07",
    "osc with string terminator": "\x1b]0;title\x1b\\",
    "csi clear screen and home": "\x1b[2J\x1b[H",
    "csi colour": "\x1b[31mred\x1b[0m",
    "c1 csi (one byte)": "\x9b2J",
    "c1 osc (one byte)": "\x9d52;c;eA==\x9c",
    "bare carriage return": "ValueError: boom\raccepted                 ",
    "backspaces": "rejected\x08\x08\x08\x08\x08\x08\x08\x08accepted",
    "bell and nul": "\x07\x00",
    "bidi override": "total \u202ecepted\u202c",
    "line separator": "a\u2028b",
    "lone surrogate": "x\ud800y",
}


@pytest.mark.parametrize("text", ATTACKS.values(), ids=ATTACKS.keys())
def test_no_control_character_survives(text: str) -> None:
    out = printable(text)
    assert all(c in "\n\t" or " " <= c <= "~" or ord(c) > 0x9f for c in out)
    assert not any(c in out for c in "\x1b\x9b\x9d\x9c\r\x08\x07\x00\u202e\u202c\u2028\ud800")
    out.encode("utf-8")  # a lone surrogate would make printing raise


def test_escapes_stay_readable() -> None:
    assert printable("\x1b[2Jhi") == "\\x1b[2Jhi"
    assert printable("a\rb") == "a\\rb"
    assert printable("\u202e") == "\\u202e"


def test_ordinary_text_is_unchanged() -> None:
    text = "line 3, in compute_reward: x = state.v\n\tValueError: bad — ünïcode ✓ 角度"
    assert printable(text) == text
    assert printable("a\r\nb") == "a\nb"


def test_limit_cuts_whole_escapes_and_marks_the_cut() -> None:
    assert printable("abcdef", limit=4) == "abc…"
    assert printable("abc", limit=3) == "abc"
    cut = printable("ab\x1b\x1b\x1b", limit=8)
    assert cut == "ab\\x1b…"
    assert len(printable("\x1b" * 1000, limit=100)) <= 100
    assert printable("abc", limit=0) == ""
