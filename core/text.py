"""Text made by a candidate (its exceptions, its prints) is data: make it safe to show on a terminal.

A reward function controls the text of the exceptions it raises and of what it prints, and that text
reaches the user's terminal (progress lines, ``validate``, the review prompt). Raw, it can drive the
terminal: OSC 52 writes the clipboard, CSI sequences clear the screen or move the cursor, a bare
carriage return overwrites the line it is on (a forged "accepted"), bidi overrides reorder what is
shown. :func:`printable` turns every such character into a visible escape (``\\x1b``, ``\\r``,
``\\u202e``), so the text stays readable for the designer but can do nothing: once ``ESC`` (and its
one-byte C1 forms) is escaped, no control sequence can start.
"""

from __future__ import annotations

import re
import unicodedata

_SAFE = re.compile(r"[\n\t\x20-\x7e]*")
"""Plain printable ASCII plus newline and tab: the common case, returned unchanged."""
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Controls (C0, DEL, C1), format characters (bidi overrides, zero-width), lone surrogates (they
cannot even be encoded for the terminal), and the Unicode line/paragraph separators."""


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\r":
        return "\\r"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with every terminal control character shown as an escape; newlines and tabs are kept.

    ``\\r\\n`` becomes ``\\n``; a bare ``\\r`` is shown as ``\\r`` (it would overwrite the line). With
    ``limit``, the result is cut to at most ``limit`` characters (an escape is never cut in half) and
    ends with ``…`` when something was cut.
    """
    text = text.replace("\r\n", "\n")
    if _SAFE.fullmatch(text):
        pieces: list[str] | str = text  # one character per piece
    else:
        pieces = [_escape(c) if c not in "\n\t" and unicodedata.category(c) in _ESCAPED_CATEGORIES else c
                  for c in text]
    out = "".join(pieces)
    if limit is None or len(out) <= limit:
        return out
    kept, size = [], 0
    for piece in pieces:  # whole pieces only: an escape is never cut in half
        if size + len(piece) > limit - 1:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept) + "…" if limit > 0 else ""
