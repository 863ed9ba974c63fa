"""The vision-language critic on a recorded run: a fake model's answers with planted claims the state contradicts.

:func:`judge_round` runs :func:`agent.analyze.critic.judge` on every trained candidate of a run's round (a copy of
``paused_run_template``: real CartPole videos and recorded episodes) against the fake OpenAI-compatible server.
The subtasks are :data:`PLANTED`'s, stated as a designer would: one the critic may judge freely (partly), one the
state always meets (the cart never leaves ±100 m) that the critic says was not done, and one the state can never
meet (the pole angle past 5 rad) that the critic says was done. The gate must keep the first and drop the others.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from rewardsmith.agent.analyze.critic import Critic, judge, watched
from rewardsmith.agent.goal.subtasks import parse_subtasks
from rewardsmith.agent.goal.task_goal import task_goal
from rewardsmith.agent.records.critic import CriticReport
from rewardsmith.agent.records.results import CandidateResult
from rewardsmith.agent.records.subtasks import Subtask
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.agent.train.targets import TrainSettings
from rewardsmith.envs.tasks import load_task
from tests.support.fake_llm import FakeLLM, Reply, ok

MODEL = "fake-vlm"
PLANTED = """Here is the task as I read it.

```subtasks
- Balance the pole upright [|pole_angle - 0| <= 0.1 over the second half]
- The cart stays on the track [cart_position <= 100 at every step]
- The pole flips all the way over [pole_angle >= 5 at some step]
```
"""
KEEP = "KEPT-1 the pole wobbles but stays up for a while"
DROP_NOT = "DROPPED-2 the cart leaves the track"
DROP_DONE = "DROPPED-3 the pole flips over"


def planted_answer(body: dict[str, Any]) -> Reply:
    """The critic's answer: a free verdict on subtask 1 and two the recorded state contradicts."""
    return ok(json.dumps({"verdicts": [{"subtask": 1, "verdict": "partly", "frame": 1, "reason": KEEP},
                                       {"subtask": 2, "verdict": "not", "frame": 0, "reason": DROP_NOT},
                                       {"subtask": 3, "verdict": "done", "frame": 2, "reason": DROP_DONE}]}))


def critic_for(store: RunStore, api_base: str, **options: Any) -> Critic:
    """The critic a run with ``--critic openai/fake-vlm --api-base api_base`` (and ``options``) makes."""
    cfg = store.load_record().config
    cfg = replace(cfg, critic=f"openai/{MODEL}", llm=replace(cfg.llm, api_base=api_base), **options)
    made = Critic.for_run(cfg, store)
    assert made is not None
    return made


def subtasks_for(run: Path) -> tuple[Subtask, ...]:
    task = load_task(RunStore(run).load_record().config.task)
    found, notes = parse_subtasks(PLANTED, task.adapter.spec)
    assert len(found) == 3 and not notes, notes
    return found


def judge_round(run: Path, critic: Critic, rnd: int = 1) -> list[tuple[CandidateResult, CriticReport]]:
    """The critic's report on every trained candidate of round ``rnd`` (as ``stages.analyze`` asks for them)."""
    store = RunStore(run)
    record = store.load_record()
    task = load_task(record.config.task)
    seed = TrainSettings.for_run(task, record.config).selection_seeds[0]
    subtasks = subtasks_for(run)
    goal = task_goal(task).spec
    return [(r, judge(critic, r, store, task, goal, subtasks, seed)) for r in store.round_results(rnd) if watched(r)]


def serve_planted(fake: FakeLLM) -> None:
    fake.respond(MODEL, planted_answer)
