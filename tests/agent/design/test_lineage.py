"""The lineage archive and the --selection policies (last-best, top-k, tree), in the prompt and in the offline designer."""

from __future__ import annotations

from pathlib import Path

from rewardsmith.agent.design.designers.offline import LABEL, OfflineDesigner
from rewardsmith.agent.design.designers.terms import Genome, Term, to_code
from rewardsmith.agent.design.lineage import (
    PlannedRequest,
    build,
    choose_parents,
    estimate_tokens,
    intent_of,
    parents_text,
)
from rewardsmith.agent.next_round import design_request, plan_parents
from rewardsmith.agent.records.config import RunConfig
from rewardsmith.agent.records.results import Candidate, CandidateResult, Critique, RoundFeedback
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.atomic import read_record
from rewardsmith.envs.evaluation import EvaluationResult, FitnessStats
from rewardsmith.envs.tasks import load_task
from rewardsmith.sandboxes.validate import ValidationReport

TASK = load_task("mountain-car")
FLAG = Term(kind="reached", field="position", weight=10.0)
SPEED = Term(kind="magnitude", field="velocity", weight=0.5)
HEIGHT = Term(kind="progress", field="height", weight=0.5)
COST = Term(kind="action_cost", field=None, weight=0.05)


def _result(cid: str, fitness: float | None, terms: tuple[Term, ...], parent: str | None = None,
            critique: str = "") -> CandidateResult:
    code = to_code(Genome(terms), TASK.adapter.spec, TASK.description, "test")
    cand = Candidate(id=cid, round=int(cid[1:3]), index=int(cid[-2:]), code=code, origin=LABEL, parent=parent)
    stats = FitnessStats(fitness or 0.0, 0.0, (fitness or 0.0,), (1,))
    return CandidateResult(candidate=cand, validation=ValidationReport(accepted=True, stage="probe", reason="ok", message="ok"),
                           evaluation=EvaluationResult(stats, stats, 100.0, 1.0) if fitness is not None else None,
                           critique=Critique(candidate_id=cid, status="ok", text=critique or f"critique of {cid}"))


HISTORY = [
    _result("r01c01", 0.9, (FLAG, SPEED)),
    _result("r01c02", 0.85, (FLAG, SPEED, COST)),   # nearly the best's code
    _result("r01c03", 0.6, (HEIGHT,)),              # a different idea
    _result("r02c01", 0.91, (FLAG, SPEED), parent="r01c01"),
    _result("r02c02", 0.88, (FLAG, SPEED), parent="r01c01"),
    _result("r02c03", 0.87, (FLAG, SPEED), parent="r02c01"),
]


def test_the_archive_keeps_parents_intents_scores_and_critique_summaries() -> None:
    responses = {"r02c01": "offline designer (...). This is a baseline search procedure, not a language model.\n"
                           "Refinement of the best so far, r01c01: widened `position_reached`.\n\n```python\nx\n```"}
    lin = build(HISTORY, responses, {2: ("r01c01",)})
    node = lin.node("r02c01")
    assert node is not None and node.parent == "r01c01" and node.score == 0.91
    assert node.intent.startswith("Refinement of the best so far, r01c01")
    assert [c.id for c in lin.children("r01c01")] == ["r02c01", "r02c02"]
    assert lin.ancestors("r02c03") == ("r02c01", "r01c01")
    assert [(r.node.id, r.depth) for r in lin.tree()][:4] == [("r01c01", 0), ("r02c01", 1), ("r02c03", 2), ("r02c02", 1)]
    assert intent_of("```python\ncode\n```") == ""


def test_last_best_is_eurekas_single_incumbent() -> None:
    choice = choose_parents(3, build(HISTORY, {}, {}), "last-best", "r02c01")
    assert choice.ids == ("r02c01",)


def test_top_k_adds_a_different_runner_up_not_the_near_duplicate() -> None:
    codes = {r.candidate.id: r.candidate.code or "" for r in HISTORY}
    choice = choose_parents(3, build(HISTORY, {}, {}), "top-k", "r02c01", codes=codes)
    assert choice.ids[0] == "r02c01"
    assert choice.ids[1] == "r01c03"  # the height idea, not the copies of the best


def test_tree_ucb_explores_an_unexpanded_node_off_the_expanded_branch() -> None:
    lin = build(HISTORY, {}, {})
    choice = choose_parents(3, lin, "tree", "r02c01")
    assert choice.ids[0] == "r02c01" or choice.ids[0] not in ("r01c01",)  # the twice-expanded root loses its bonus
    assert len(choice.ids) == 2
    first, second = choice.ids
    assert first not in lin.ancestors(second) and second not in lin.ancestors(first)
    assert all("UCB" in r for r in choice.reasons)


def test_a_reviewers_choice_leads_every_policy() -> None:
    choice = choose_parents(3, build(HISTORY, {}, {}), "tree", "r01c03", reviewer_choice=True)
    assert choice.ids[0] == "r01c03"


def test_runners_up_fit_in_the_stated_token_budget() -> None:
    history = [*HISTORY, _result("r02c04", 0.3, (Term(kind="damping", field="velocity", weight=0.1), COST))]
    by_id = {r.candidate.id: r for r in history}
    choice = choose_parents(3, build(history, {}, {}), "top-k", "r02c01", k=3,
                            codes={r.candidate.id: r.candidate.code or "" for r in history})
    assert choice.ids == ("r02c01", "r01c03", "r02c04")
    full = parents_text(choice, by_id, budget=10_000)
    assert full.count("```python") == 2 and "at most 10000 tokens" in full
    code_tokens = estimate_tokens(by_id[choice.ids[1]].candidate.code or "")
    one = parents_text(choice, by_id, budget=code_tokens + 60)
    assert one.count("```python") == 1
    assert parents_text(choice, by_id, budget=10) == ""


def test_the_request_records_parents_and_the_offline_designer_refines_each(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    for r in HISTORY:
        store.save_sampled(r.candidate, "p", f"answer of {r.candidate.id}\n```python\n{r.candidate.code}```\n")
    cfg = RunConfig(task=str(TASK.source), samples=3)
    feedback = RoundFeedback(round=2, best_id="r02c01", best_fitness=0.91, summary="round 2 feedback")
    choice, _ = plan_parents(3, HISTORY, feedback, HISTORY[3], store, "top-k")
    assert choice.ids == ("r02c01", "r01c03")
    req, incumbent = design_request(TASK, store, cfg, 3, HISTORY, feedback)
    assert incumbent is not None and incumbent.candidate.id == "r02c01"
    assert isinstance(req, PlannedRequest) and req.parents == ("r02c01",)  # the config's default: last-best
    assert read_record(store.round_files(3).parents, type(choice)).ids == ("r02c01",)
    assert store.lineage_file.is_file()
    planned = PlannedRequest(task=TASK, round=3, k=3, seed=0, messages=req.messages, history=tuple(HISTORY),
                             parents=choice.ids)
    completions = OfflineDesigner().propose(planned)
    assert [c.parent for c in completions[:2]] == ["r02c01", "r01c03"]


def test_the_tree_view_of_a_run_directory(tmp_path: Path) -> None:
    from rewardsmith.agent.design.lineage import tree_view

    store = RunStore(tmp_path)
    for r in HISTORY:
        store.save_sampled(r.candidate, "p", f"Idea of {r.candidate.id}.\n```python\n{r.candidate.code}```\n")
        store.save_validation(r.candidate, r.validation)
    rows = tree_view(store)
    assert [(row["id"], row["depth"]) for row in rows][:3] == [("r01c01", 0), ("r02c01", 1), ("r02c03", 2)]
    assert rows[0]["intent"] == "Idea of r01c01."
