"""The offline designer: an evolutionary search over reward terms and constants. No network, no LLM.

Round 1 samples term structures from :func:`~agent.design.designers.terms.goal_terms` (the terms that what
the task asks — :func:`~agent.goal.task_goal.task_goal` — and its state fields suggest), starting with the
most likely structure. Later rounds keep
an archive of every evaluated candidate and breed the next ones from the best: a critique-guided
refinement of the elite (re-scale dominant terms, widen or drop constant ones, restructure when the
fitness stays at zero, cut the term a hacked policy exploited), plus mutations (re-weighting,
adding, dropping terms) and crossover of good parents. It writes code in the same contract as an
LLM and says in every response that it is a baseline search, not a language model.

With a reviewer (``--review``) it follows their :class:`~agent.records.review.Guidance`: the chosen best is
the elite that gets refined, the worst ones are the last to be bred from, locked terms are kept in
their locked form in every child, forbidden ones are dropped, and in a preferences-only run the
archive ranks by preference scores because the fitness is hidden.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from rewardsmith.agent.design.designers.base import DesignRequest
from rewardsmith.agent.design.designers.terms import Genome, PoolEntry, Term, goal_terms, to_code
from rewardsmith.agent.design.lineage import PlannedRequest
from rewardsmith.agent.goal.task_goal import TaskGoal, task_goal
from rewardsmith.agent.records.results import CandidateResult, Completion, FindingKind
from rewardsmith.agent.records.review import Guidance

LABEL = "offline designer (evolutionary search over reward terms, no LLM)"


@dataclass(frozen=True, kw_only=True)
class _Scored:
    id: str
    genome: Genome
    fitness: float
    """What the archive ranks by: the fitness, or the preference score in a preferences-only run."""
    result: CandidateResult
    what: str = "fitness"


class OfflineDesigner:
    label = LABEL

    def propose(self, request: DesignRequest) -> list[Completion]:
        rng = random.Random(f"{request.seed}:{request.round}:{request.task.name}")
        goal = task_goal(request.task)
        guide = request.guidance or Guidance()
        pool = [e for e in goal_terms(goal) if e.term.name not in guide.forbidden]
        archive = _archive(request.history, guide)
        parents = _parents(archive, request.parents if isinstance(request, PlannedRequest) else ())
        locked = _locked_terms(guide, archive)
        seen = {s.genome.key() for s in archive}
        children: list[tuple[Genome, str, str | None]] = []
        for i in range(request.k):
            for _attempt in range(30):
                if not archive:
                    genome, note, parent = *_fresh(pool, rng, mode=(i == 0)), None
                elif i < len(parents):  # each parent the selection policy chose gets a critique-guided refinement
                    genome, note, parent = *_refine(parents[i], pool, rng), parents[i].id
                else:
                    genome, note, parent = _mutate(archive, pool, rng)
                genome = _constrained(genome, locked, guide.forbidden)
                if genome.terms and genome.key() not in seen:
                    break
            seen.add(genome.key())
            children.append((genome, note, parent))
        return [self._completion(request, goal, g, note, parent) for g, note, parent in children]

    def _completion(self, request: DesignRequest, goal: TaskGoal, genome: Genome, note: str, parent: str | None) -> Completion:
        code = to_code(genome, goal.spec, request.task.description, note)
        text = (f"{LABEL}. This is a baseline search procedure, not a language model.\n"
                f"{note}\n\n```python\n{code}```\n")
        return Completion(text=text, designer=LABEL, parent=parent, meta={"terms": len(genome.terms)})


def _archive(history: tuple[CandidateResult, ...], guide: Guidance) -> list[_Scored]:
    """Every earlier candidate with a genome, best first: the reviewer's chosen best leads, their worst trail.

    In a preferences-only run the fitness is hidden, so candidates rank by their preference score.
    """
    scored = []
    for r in history:
        genome = Genome.from_code(r.candidate.code) if r.candidate.code else None
        if genome is None:
            continue
        if guide.preference_only:
            scored.append(_Scored(id=r.candidate.id, genome=genome, fitness=guide.scores.get(r.candidate.id, -math.inf), result=r,
                                  what="preference score"))
        else:
            scored.append(_Scored(id=r.candidate.id, genome=genome, fitness=r.fitness if r.fitness is not None else -math.inf, result=r))
    return sorted(scored, key=lambda s: (s.id == guide.best, s.id not in guide.worst, s.fitness), reverse=True)


def _parents(archive: list[_Scored], chosen: tuple[str, ...]) -> list[_Scored]:
    """The parents to refine: the ones the ``--selection`` policy chose (``agent.design.lineage``; a reviewer's
    choice is its first), else the archive's elite."""
    by_id = {s.id: s for s in archive}
    picked = [by_id[c] for c in chosen if c in by_id]
    return picked or archive[:1]


def _locked_terms(guide: Guidance, archive: list[_Scored]) -> dict[str, Term]:
    """The terms a reviewer locked, exactly as they were in the candidate they were locked from."""
    genomes = {s.id: s.genome for s in archive}
    out: dict[str, Term] = {}
    for lc in guide.locked:
        source = genomes.get(lc.source)
        term = next((t for t in source.terms if t.name == lc.name), None) if source else None
        if term is not None:
            out[lc.name] = term
    return out


def _constrained(genome: Genome, locked: dict[str, Term], forbidden: tuple[str, ...]) -> Genome:
    """Keep every locked term (in its locked form) and drop forbidden ones."""
    terms = [locked.get(t.name, t) for t in genome.terms if t.name not in forbidden]
    present = {t.name for t in terms}
    terms += [t for name, t in locked.items() if name not in present]
    return Genome(tuple(terms))


def _jitter(weight: float, rng: random.Random, sigma: float) -> float:
    return float(weight * math.exp(rng.gauss(0.0, sigma)))


def _fresh(pool: list[PoolEntry], rng: random.Random, mode: bool) -> tuple[Genome, str]:
    """A new structure: the most likely one (``mode``), or one sampled from the pool."""
    if mode:
        terms = [e.term for e in pool if e.p >= 0.5]
        return Genome(tuple(terms)), "Round 1: the most likely term structure for this task, default constants."
    terms = [replace(e.term, weight=_jitter(e.term.weight, rng, 0.7), temp=_jitter(e.term.temp, rng, 0.5))
             for e in pool if rng.random() < e.p]
    if not terms:
        e = max(pool, key=lambda e: e.p)
        terms = [e.term]
    return Genome(tuple(terms)), "Round 1: a term structure sampled from the task's term pool, random constants."


def _refine(best: _Scored, pool: list[PoolEntry], rng: random.Random) -> tuple[Genome, str]:
    """Act on the elite's critique, as the reflection prompt asks an LLM to; each term changes at most once."""
    critique = best.result.critique
    flags = critique.flags if critique is not None else ()
    shares = critique.shares if critique is not None else {}
    terms = {t.name: t for t in best.genome.terms}
    touched: set[str] = set()
    actions: list[str] = []

    def scale(name: str, factor: float, why: str) -> None:
        if name in terms and name not in touched:
            terms[name] = replace(terms[name], weight=terms[name].weight * factor)
            touched.add(name)
            actions.append(f"{why} `{name}` ×{factor:g}")

    returns = {s.name: s.max for s in critique.components} if critique is not None else {}
    for flag in sorted((f for f in flags if f.kind in _FLAG_ORDER), key=lambda f: _FLAG_ORDER[f.kind]):
        kind, name = flag.kind, flag.component or ""
        if kind == "reward_up_fitness_flat" and shares:
            # The policy found reward it can collect without the task (MountainCar, measured: swinging
            # forever paid more than reaching the flag). Price finishing above the most the exploited term
            # paid in an episode; without a goal term, make the exploited one cheaper instead.
            exploited = max(shares, key=lambda n: shares[n])
            goals = [n for n, t in terms.items() if t.kind == "reached"]
            if goals and exploited in returns:
                touched.add(exploited)
                for goal in goals:
                    factor = max(3.0, 2.0 * abs(returns[exploited]) / max(terms[goal].weight, 1e-9))
                    scale(goal, round(factor, 2), f"priced finishing above `{exploited}` "
                                                  f"(up to {returns[exploited]:.3g} per episode):")
            else:
                scale(exploited, 0.3, "the policy exploited")
        elif kind == "dominant":
            scale(name, 0.3, "scaled down dominant")
        elif kind in ("component_up_fitness_down", "length_farming", "against_fitness", "improved_not_fitness"):
            scale(name, 0.3, f"cut ({kind.replace('_', ' ')})")
        elif kind == "saturated" and name in terms and name not in touched and terms[name].kind == "closeness":
            touched.add(name)
            terms[name] = replace(terms[name], temp=terms[name].temp * 3.0)
            actions.append(f"widened the temperature of saturated `{name}` ×3")
        elif kind == "constant" and name in terms and name not in touched and len(terms) > 1:
            touched.add(name)
            if terms[name].kind == "closeness":
                terms[name] = replace(terms[name], temp=terms[name].temp * 3.0)
                actions.append(f"widened the temperature of constant `{name}` ×3")
            else:
                del terms[name]
                actions.append(f"dropped constant `{name}`")
        elif kind == "wrong_direction":
            # The policy went against the task's direction although the progress terms on that field already
            # point the task's way (to_code signs them from the description): make going the right way pay more.
            for n in [n for n, t in terms.items() if t.kind == "progress" and t.field == name]:
                scale(n, 2.0, f"the body went the wrong way along `{name}`: strengthened")
        elif kind == "fitness_zero":
            genome_terms = list(terms.values())
            for _ in range(2):
                genome_terms, what = _add_term(genome_terms, pool, rng)
                if what:
                    actions.append(what)
            terms = {t.name: t for t in genome_terms}
    if not actions:
        terms = {n: replace(t, weight=_jitter(t.weight, rng, 0.3)) for n, t in terms.items()}
        actions.append("no findings to act on: small re-weighting of every term")
    note = f"Refinement of the best so far, {best.id} ({best.what} {best.fitness:.4g}): " + "; ".join(actions) + "."
    return Genome(tuple(terms.values())), note


_FLAG_ORDER: dict[FindingKind, int] = {
    "reward_up_fitness_flat": 0, "component_up_fitness_down": 1, "length_farming": 2, "fitness_zero": 3, "dominant": 4,
    "against_fitness": 5, "improved_not_fitness": 6, "constant": 7, "saturated": 8, "wrong_direction": 9,
}
"""The findings the refinement acts on, most telling first; the others (failure causes, the other motion findings) only inform."""


def _mutate(archive: list[_Scored], pool: list[PoolEntry], rng: random.Random) -> tuple[Genome, str, str]:
    """Tournament-select a parent and apply one operator."""
    alive = [s for s in archive if math.isfinite(s.fitness)] or archive
    parent = min(rng.sample(alive, min(2, len(alive))), key=lambda s: -s.fitness)
    terms = list(parent.genome.terms)
    # When the best rewards all score the same, their constants evidently do not matter to what PPO
    # learns (they share one local optimum): change structure rather than weights.
    weights = [0.1, 0.3, 0.35, 0.25] if _stagnant(alive) else [0.4, 0.2, 0.15, 0.25]
    op = rng.choices(["reweight", "add", "drop", "crossover"], weights=weights)[0]
    what = ""
    if op == "add":
        terms, what = _add_term(terms, pool, rng)
    elif op == "drop" and len(terms) > 1:
        victim = terms.pop(rng.randrange(len(terms)))
        what = f"dropped `{victim.name}`"
    elif op == "crossover" and len(alive) > 1:
        other = rng.choice([s for s in alive if s is not parent])
        mine = {t.name: t for t in terms}
        theirs = {t.name: t for t in other.genome.terms}
        names = sorted(set(mine) | set(theirs))
        terms = [mine[n] if n in mine and (n not in theirs or rng.random() < 0.5) else theirs[n]
                 for n in names if rng.random() < 0.8 or (n in mine and n in theirs)]
        what = f"crossover with {other.id}"
    if not what:
        terms = [replace(t, weight=_jitter(t.weight, rng, 0.6), temp=_jitter(t.temp, rng, 0.3)) for t in terms]
        what = "re-weighted every term"
    return Genome(tuple(terms)), f"Mutation of {parent.id} ({parent.what} {parent.fitness:.4g}): {what}.", parent.id


def _stagnant(archive: list[_Scored], top: int = 3) -> bool:
    best = [s.fitness for s in archive[:top]]
    return len(best) == top and max(best) - min(best) <= 1e-9 * max(1.0, abs(max(best)))


def _add_term(terms: list[Term], pool: list[PoolEntry], rng: random.Random) -> tuple[list[Term], str]:
    present = {t.name for t in terms}
    options = [e for e in pool if e.term.name not in present]
    if not options:
        return terms, ""
    entry = rng.choices(options, weights=[e.p + 0.05 for e in options])[0]
    return [*terms, entry.term], f"added `{entry.term.name}`"
