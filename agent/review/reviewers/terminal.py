"""Terminal review of a paused round: ``rewardsmith review RUN_DIR`` and ``--review cli``.

Shows the round as a table (fitness, each component's share of the return, flags, video path), then
every candidate's code with syntax highlighting and its diff against its parent, and asks the review
questions one by one. Every answer is checked right away and asked again if it is wrong; the
finished review goes through :func:`agent.review.gate.submit_feedback` like the web app's.
Questions are asked through ``ask`` and edits made through ``edit``, so tests answer them in code.
"""

from __future__ import annotations

import difflib
import os
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from rewardsmith.agent.records.results import CandidateResult
from rewardsmith.agent.records.review import HumanFeedback, LockedComponent, PairChoice
from rewardsmith.agent.review.gate import (
    ReviewSession,
    check_edit,
    check_offered,
    load_result,
    resolve_lock,
    submit_feedback,
)
from rewardsmith.core.atomic import write_text
from rewardsmith.core.errors import ReviewError, ReviewPending
from rewardsmith.core.text import printable

T = TypeVar("T")
Ask = Callable[[str], str]
Edit = Callable[[Path], None]
MAX_TRIES = 5
EDITOR_TIMEOUT_S = 3600.0


@dataclass
class TerminalReviewer:
    console: Console
    ask: Ask
    edit: Edit

    @classmethod
    def interactive(cls) -> TerminalReviewer:
        console = Console(highlight=False)
        return cls(console, lambda prompt: console.input(escape(prompt)), lambda path: _open_editor(path, console))

    def review(self, session: ReviewSession) -> None:
        show_round(session, self.console)
        feedback = self.collect(session)
        submit_feedback(session, feedback)
        self.console.print(f"review of round {session.request.round} saved to "
                           f"{session.store.round_files(session.request.round).human}", markup=False)

    # -- the questions ---------------------------------------------------------------------------
    def collect(self, session: ReviewSession) -> HumanFeedback:
        req = session.request
        offered = ", ".join(req.candidates) or "none"
        self.console.print(f"\nReview of round {req.round}. Trained candidates: {offered}. Press Enter to skip "
                           "any question.", markup=False)
        best = self._question(f"Best candidate [{offered}]: ", lambda a: _one_id(a, "best", session))
        worst = self._question(f"Worst candidate [{offered}]: ", lambda a: _one_id(a, "worst", session))
        if best is not None and best == worst:
            self.console.print(f"{best} cannot be both the best and the worst; worst left empty", markup=False)
            worst = None
        pairs: list[PairChoice] = []
        while True:
            pair = self._question("Pairwise choice 'WINNER>LOSER optional comment' [Enter = done]: ",
                                  lambda a: _pair(a, session))
            if pair is None:
                break
            pairs.append(pair)
        text = self._answer("Feedback on the behaviour, in your words: ")
        locked = self._question(_lock_prompt(req.locked), lambda a: _locks(a, session)) or req.locked
        forbidden = self._question(_forbid_prompt(req.forbidden), lambda a: _forbids(a, req.forbidden))
        draft = HumanFeedback(round=req.round, reviewer="cli", best=best, worst=worst, pairs=tuple(pairs), text=text, locked=tuple(locked),
                              forbidden=forbidden if forbidden is not None else req.forbidden)
        draft = self._edit(session, draft)
        stop = self._question("Continue with the next round, or stop and keep the best? [c/s]: ", _action)
        return replace(draft, action="stop" if stop else "continue")

    def _edit(self, session: ReviewSession, draft: HumanFeedback) -> HumanFeedback:
        editable = [cid for cid, r in session.results.items() if r.candidate.code]
        for _ in range(MAX_TRIES):
            cid = self._answer(f"Edit a candidate's code? [{', '.join(editable)}; Enter = no]: ")
            if not cid:
                return draft
            if cid not in editable:
                self.console.print(f"error: no candidate {cid!r}; choose from: {', '.join(editable)}", markup=False)
                continue
            path = session.store.round_files(session.request.round).edit_draft(cid)
            if not path.is_file():
                write_text(path, session.results[cid].candidate.code or "")
            self.console.print(f"editing a copy of {cid}: {path}", markup=False)
            self.edit(path)
            candidate = replace(draft, edited_from=cid, edited_code=path.read_text(encoding="utf-8"))
            try:
                self.console.print("checking the edited reward in the sandbox…", markup=False)
                return replace(candidate, edited_code=check_edit(session, candidate))
            except ReviewError as err:
                self.console.print(f"error: {printable(str(err))}", markup=False)
        return draft

    def _answer(self, prompt: str) -> str:
        try:
            return self.ask(prompt).strip()
        except EOFError:
            raise ReviewPending("the review was not finished (no more input); nothing was saved") from None

    def _question(self, prompt: str, parse: Callable[[str], T]) -> T | None:
        for _ in range(MAX_TRIES):
            answer = self._answer(prompt)
            if not answer:
                return None
            try:
                return parse(answer)
            except ReviewError as err:
                self.console.print(f"error: {printable(str(err))}", markup=False)
        raise ReviewPending(f"{MAX_TRIES} invalid answers in a row; nothing was saved")


# -- answers -------------------------------------------------------------------------------------
def _one_id(answer: str, role: str, session: ReviewSession) -> str:
    check_offered(answer, role, session.request.candidates, session.request.round)
    return answer


def _pair(answer: str, session: ReviewSession) -> PairChoice:
    head, _, comment = answer.partition(" ")
    winner, sep, loser = head.partition(">")
    if not sep:
        raise ReviewError(f"expected WINNER>LOSER, e.g. {'>'.join(session.request.candidates[:2]) or 'r01c01>r01c02'}")
    check_offered(winner, "pair winner", session.request.candidates, session.request.round)
    check_offered(loser, "pair loser", session.request.candidates, session.request.round)
    if winner == loser:
        raise ReviewError(f"a pairwise choice compares {winner} with itself")
    return PairChoice(winner, loser, comment.strip())


def _locks(answer: str, session: ReviewSession) -> tuple[LockedComponent, ...]:
    locks = {lc.name: lc for lc in session.request.locked}
    for item in (a.strip() for a in answer.split(",") if a.strip()):
        if item.startswith("-"):
            if locks.pop(item[1:], None) is None:
                raise ReviewError(f"{item[1:]!r} is not locked; locked: {', '.join(locks) or 'none'}")
            continue
        source, sep, name = item.partition(":")
        if not sep:
            raise ReviewError(f"expected CANDIDATE:COMPONENT, got {item!r}")
        locks[name] = resolve_lock(session, LockedComponent(name, source))
    return tuple(locks.values())


def _forbids(answer: str, current: tuple[str, ...]) -> tuple[str, ...]:
    names = list(current)
    for item in (a.strip() for a in answer.split(",") if a.strip()):
        if item.startswith("-"):
            if item[1:] not in names:
                raise ReviewError(f"{item[1:]!r} is not forbidden; forbidden: {', '.join(names) or 'none'}")
            names.remove(item[1:])
        elif not item.isidentifier():
            raise ReviewError(f"{item!r} is not a component name")
        elif item not in names:
            names.append(item)
    return tuple(names)


def _action(answer: str) -> bool:
    if answer.lower() in ("c", "continue"):
        return False
    if answer.lower() in ("s", "stop"):
        return True
    raise ReviewError("answer c (continue) or s (stop)")


def _lock_prompt(current: tuple[LockedComponent, ...]) -> str:
    now = ", ".join(lc.name for lc in current) or "none"
    return f"Lock components: CANDIDATE:COMPONENT, comma-separated; -NAME unlocks [locked now: {now}]: "


def _forbid_prompt(current: tuple[str, ...]) -> str:
    return f"Forbid components: NAME, comma-separated; -NAME allows again [forbidden now: {', '.join(current) or 'none'}]: "


# -- display -------------------------------------------------------------------------------------
def show_round(session: ReviewSession, console: Console) -> None:
    req = session.request
    table = Table(title=f"round {req.round}", title_justify="left")
    for col in ("candidate", "status", "fitness", "held-out", "components (share of return)", "flags", "video"):
        table.add_column(col)
    for cid, r in session.results.items():
        crit = r.critique
        shares = ", ".join(f"{n} {100 * s:.0f}%" for n, s in (crit.shares if crit else {}).items())
        video = session.store.video_of(r.candidate)
        held = r.evaluation.heldout if r.evaluation else None
        label = cid + (" (best so far)" if cid == req.incumbent else "")
        table.add_row(label, r.status, f"{r.fitness:.4g}" if r.fitness is not None else "-",
                      f"{held.mean:.4g} ± {held.std:.2g}" if held else "-", shares,
                      ", ".join(map(str, crit.flags)) if crit else "", str(video.relative_to(session.store.root)) if video else "-")
    console.print(table)
    console.print(f"videos and files are under {session.store.root}", markup=False)
    for cid, r in session.results.items():
        if r.candidate.code is None:
            continue
        console.rule(f"{cid} ({r.candidate.origin})")
        console.print(Syntax(printable(r.candidate.code), "python", line_numbers=True, word_wrap=True))
        diff = parent_diff(session, r)
        if diff:
            console.print(f"diff against its parent {r.candidate.parent}:", markup=False)
            console.print(Syntax(printable(diff), "diff", word_wrap=True))


def parent_diff(session: ReviewSession, result: CandidateResult) -> str:
    """Unified diff of a candidate's code against its parent's (empty if it has none)."""
    parent = result.candidate.parent
    if parent is None or result.candidate.code is None:
        return ""
    try:
        parent_result = session.results.get(parent) or load_result(session.store, parent)
    except ReviewError:
        return ""
    before = (parent_result.candidate.code or "").splitlines(keepends=True)
    after = result.candidate.code.splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, session.store.code_label(parent),
                                   session.store.code_label(result.candidate.id)))


def _open_editor(path: Path, console: Console) -> None:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        console.input(f"edit {path} in your editor, save it, then press Enter ")
        return
    try:
        subprocess.run([*shlex.split(editor), str(path)], check=False, timeout=EDITOR_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReviewError(f"the editor {editor!r} failed: {exc}") from None
