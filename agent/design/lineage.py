"""The lineage archive of every candidate, and the policy that picks which parents the next prompt builds on.

Eureka keeps only the last best reward ("Markovian"); RF-Agent (NeurIPS 2025) searches a tree of the
whole design history and beats it on 17 tasks, keeping per node the design rationale, code, scores
and text feedback. :class:`Lineage` is that archive: per candidate its parent, the edit or the
designer's stated intent, its score and a critique summary (``lineage.json``, shown as a tree in
the web app). :func:`choose_parents` implements ``--selection``:

- ``last-best`` (Eureka, the default): the previous round's selection.
- ``top-k``: the best by fitness, then runners-up chosen for score *and* difference from the
  parents already chosen (terms/identifiers they do not share), so the prompt sees two ideas.
- ``tree``: UCB1 over the archive (RF-Agent-style): a node's normalised fitness plus
  ``c·sqrt(ln N / (1 + expansions))``, where expansions counts the children it already has; the
  runner-up is the best-UCB node off the chosen one's branch.

A reviewer's choice (``--review``) always leads. Both designers use the choice: the LLM reads the
parents in its prompt (:func:`parents_text`, within a stated token budget), the offline designer
refines and breeds from them (:class:`PlannedRequest`).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Literal

from rewardsmith.agent.design.designers.base import DesignRequest
from rewardsmith.agent.design.prompting import render
from rewardsmith.agent.records.results import CandidateResult
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.atomic import read_record

Selection = Literal["last-best", "top-k", "tree"]
SELECTIONS: tuple[Selection, ...] = ("last-best", "top-k", "tree")
UCB_C = 0.7
"""Exploration weight of the tree policy (fitness is normalised to [0, 1] over the archive)."""
PARENT_TOKEN_BUDGET = 1500
"""Most tokens (≈ 4 characters each) the runners-up may add to a prompt, beyond the best parent."""


@dataclass(frozen=True, kw_only=True)
class LineageNode:
    """One candidate in the archive."""

    id: str
    round: int
    parent: str | None
    """The candidate it was derived from (the designer's word, else the first parent of its round's prompt)."""
    intent: str
    """The edit or the designer's stated intent (first line of its answer's explanation)."""
    score: float | None
    """Selection fitness; None when not trained (rejected, crashed) or hidden (preferences-only)."""
    heldout: float | None
    status: str
    critique: str
    """The critique's findings in one line (``dominant:speed, constant:flag``), or its status."""
    origin: str = ""


@dataclass(frozen=True, kw_only=True)
class Lineage:
    nodes: tuple[LineageNode, ...] = ()

    def node(self, cid: str) -> LineageNode | None:
        return next((n for n in self.nodes if n.id == cid), None)

    def children(self, cid: str | None) -> tuple[LineageNode, ...]:
        return tuple(n for n in self.nodes if n.parent == cid)

    def ancestors(self, cid: str) -> tuple[str, ...]:
        out: list[str] = []
        node = self.node(cid)
        while node is not None and node.parent is not None and node.parent not in out:
            out.append(node.parent)
            node = self.node(node.parent)
        return tuple(out)

    def tree(self) -> list[TreeRow]:
        """Depth-first rows for display (the web app's tree view): roots are candidates without a known parent."""
        ids = {n.id for n in self.nodes}
        rows: list[TreeRow] = []

        def walk(n: LineageNode, depth: int) -> None:
            rows.append(TreeRow(node=n, depth=depth))
            for child in self.children(n.id):
                walk(child, depth + 1)

        for root in (n for n in self.nodes if n.parent is None or n.parent not in ids):
            walk(root, 0)
        return rows


@dataclass(frozen=True)
class TreeRow:
    node: LineageNode
    depth: int


@dataclass(frozen=True, kw_only=True)
class ParentChoice:
    """``round_NN/parents.json``: which candidates a round's prompt builds on, and why."""

    round: int
    policy: Selection
    ids: tuple[str, ...]
    reasons: tuple[str, ...]
    token_budget: int = PARENT_TOKEN_BUDGET


@dataclass(frozen=True, kw_only=True)
class PlannedRequest(DesignRequest):
    """A design request that names its parents (``--selection``); the offline designer breeds from them."""

    parents: tuple[str, ...] = field(default=())


def intent_of(response: str) -> str:
    """The designer's stated intent: the first prose line of an answer that is not its label or code."""
    for line in response.splitlines():
        if line.strip().startswith("```"):
            break  # the explanation comes before the code
        text = line.strip().lstrip("#").strip()
        if not text or "not a language model" in text:
            continue
        return text[:200]
    return ""


def build(history: list[CandidateResult], responses: dict[str, str], round_parents: dict[int, tuple[str, ...]],
          hide_scores: bool = False) -> Lineage:
    """The archive of ``history``; ``responses`` by candidate id, ``round_parents``: each round's chosen parents."""
    nodes = []
    for r in history:
        c = r.candidate
        parent = c.parent or next(iter(round_parents.get(c.round, ())), None)
        critique = r.critique
        summary = ", ".join(str(f) for f in critique.flags) if critique is not None and critique.flags else r.status
        ev = r.evaluation
        nodes.append(LineageNode(id=c.id, round=c.round, parent=parent, intent=intent_of(responses.get(c.id, "")),
                                 score=None if hide_scores else r.fitness,
                                 heldout=None if hide_scores or ev is None else ev.heldout.mean,
                                 status=r.status, critique=summary, origin=c.origin))
    return Lineage(nodes=tuple(nodes))


def choose_parents(rnd: int, lineage: Lineage, policy: Selection, incumbent: str | None, k: int = 2,
                   codes: dict[str, str] | None = None, reviewer_choice: bool = False) -> ParentChoice:
    """The parents of round ``rnd``'s prompt (none in round 1, or when nothing scored yet).

    ``incumbent``: the last-best selection (a reviewer's choice when ``reviewer_choice``, which then leads
    under every policy).
    """
    codes = codes or {}
    scored = [n for n in lineage.nodes if n.score is not None and math.isfinite(n.score)]
    if policy == "last-best" or not scored:
        ids = (incumbent,) if incumbent is not None else ()
        return ParentChoice(round=rnd, policy=policy, ids=ids, reasons=("the previous round's selection",) * len(ids))
    chosen: list[str] = []
    reasons: list[str] = []
    if reviewer_choice and incumbent is not None:
        chosen.append(incumbent)
        reasons.append("the reviewer's choice")
    if policy == "top-k":
        ranked = sorted(scored, key=lambda n: n.score or 0.0, reverse=True)
        for n in ranked:  # the best, then the best of those that are not near-copies of a chosen one
            if len(chosen) >= k:
                break
            if n.id in chosen or (chosen and _novelty(n.id, chosen, codes) < NEAR_DUPLICATE):
                continue
            reasons.append(f"fitness {n.score:.4g}" + (", the best that differs from the parents above" if chosen else ", the best"))
            chosen.append(n.id)
    else:
        ucb = _ucb(lineage, scored)
        for n in sorted(scored, key=lambda n: ucb[n.id], reverse=True):
            if len(chosen) >= k:
                break
            if n.id in chosen or any(n.id in lineage.ancestors(c) or c in lineage.ancestors(n.id) for c in chosen):
                continue  # the runner-up comes from another branch
            chosen.append(n.id)
            reasons.append(f"UCB {ucb[n.id]:.3g} (fitness {n.score:.4g}, {len(lineage.children(n.id))} children)")
    return ParentChoice(round=rnd, policy=policy, ids=tuple(chosen[:k]), reasons=tuple(reasons[:k]))


def _bounds(nodes: list[LineageNode]) -> tuple[float, float]:
    values = [n.score for n in nodes if n.score is not None]
    return min(values), max(values)


def _norm(v: float | None, lo: float, hi: float) -> float:
    return 0.5 if v is None or hi <= lo else (v - lo) / (hi - lo)


def _ucb(lineage: Lineage, scored: list[LineageNode]) -> dict[str, float]:
    lo, hi = _bounds(scored)
    total = len(lineage.nodes)
    return {n.id: _norm(n.score, lo, hi) + UCB_C * math.sqrt(math.log(total + 1) / (1 + len(lineage.children(n.id))))
            for n in scored}


NEAR_DUPLICATE = 0.25
"""A runner-up must differ from every chosen parent by at least this much (identifier-set Jaccard distance)."""


def _identifiers(code: str) -> set[str]:
    """The names a reward module uses (variables, constants, fields, functions); comments and strings do not count."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    return ({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)})


def _novelty(cid: str, chosen: list[str], codes: dict[str, str]) -> float:
    """How unlike the chosen parents' code a candidate's is: the least Jaccard distance of their identifier sets."""
    mine = _identifiers(codes.get(cid, ""))
    dists = []
    for other in chosen:
        theirs = _identifiers(codes.get(other, ""))
        union = mine | theirs
        dists.append(1.0 - len(mine & theirs) / len(union) if union else 0.0)
    return min(dists) if dists else 1.0


def estimate_tokens(text: str) -> int:
    """Tokens of a text as a chat model counts them, roughly (≈ 4 characters per token for code and English)."""
    return math.ceil(len(text) / 4)


def parents_text(choice: ParentChoice, results: dict[str, CandidateResult], budget: int = PARENT_TOKEN_BUDGET) -> str:
    """The runners-up (every parent after the first) with their code and critique, for the prompt.

    The first parent goes into the prompt as the incumbent; the others are added while they fit in
    ``budget`` tokens; one that does not fit is shown without its critique, then not at all. The budget
    and what was used are stated in the text.
    """
    blocks: list[dict[str, str]] = []
    used = 0
    for cid, reason in zip(choice.ids[1:], choice.reasons[1:], strict=False):
        r = results.get(cid)
        if r is None or r.candidate.code is None:
            continue
        fitness = f"fitness {r.fitness:.4g}" if r.fitness is not None else r.status
        critique = r.critique.text.strip() if r.critique is not None else ""
        for crit in (critique, ""):
            block = {"id": cid, "why": reason, "fitness": fitness, "code": r.candidate.code.rstrip(), "critique": crit}
            cost = estimate_tokens(block["code"] + block["critique"]) + 30
            if used + cost <= budget:
                blocks.append(block)
                used += cost
                break
    if not blocks:
        return ""
    return render("parents.j2", policy=choice.policy, blocks=blocks, used=used, budget=budget)


def archive_of(store: RunStore, hide_scores: bool = False) -> Lineage:
    """The lineage of every candidate a run directory holds so far (the web app's tree view reads this)."""
    history = [r for rnd in store.rounds() for r in store.round_results(rnd)]
    responses = {}
    for r in history:
        try:
            responses[r.candidate.id] = store.load_response(r.candidate)
        except OSError:
            responses[r.candidate.id] = ""
    parents = {}
    for rnd in store.rounds():
        path = store.round_files(rnd).parents
        if path.is_file():
            parents[rnd] = read_record(path, ParentChoice).ids
    return build(history, responses, parents, hide_scores=hide_scores)


def tree_view(store: RunStore) -> list[dict[str, str | int | float | None]]:
    """Rows for an HTML tree (depth-first; ``depth`` for the indent): id, round, intent, score, held-out, critique."""
    return [{"id": row.node.id, "depth": row.depth, "round": row.node.round, "parent": row.node.parent,
             "intent": row.node.intent, "score": row.node.score, "heldout": row.node.heldout,
             "status": row.node.status, "critique": row.node.critique, "origin": row.node.origin}
            for row in archive_of(store).tree()]
