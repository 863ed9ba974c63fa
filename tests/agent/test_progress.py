"""The terminal display never prints candidate-made text raw (escape sequences, OSC 52, screen clears)."""

from __future__ import annotations

import io

from rich.console import Console

from agent.progress import ProgressView


def test_a_note_with_terminal_control_sequences_is_shown_escaped() -> None:
    out = io.StringIO()
    view = ProgressView(Console(file=out, force_terminal=False, width=200), live=False)
    view.round_started(1, 1)
    forged = "boom\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGU=\x07\x1b[2J\r  r01c01: accepted"
    view.update("r01c01", "crashed", note=forged)
    shown = out.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown
    assert "\\x1b]52" in shown  # visible, so a person can see something tried
