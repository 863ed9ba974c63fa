"""The task as checkable subtasks: read from a description's clauses, or from a designer's ``subtasks`` block."""

from __future__ import annotations

from rewardsmith.agent.goal.subtasks import MAX_SUBTASKS, candidate_subtasks, parse_subtasks, task_subtasks
from rewardsmith.agent.goal.task_goal import read_goal, task_goal
from rewardsmith.agent.records.subtasks import StateCheck
from rewardsmith.envs.tasks import load_task


def _listed(name: str) -> list[tuple[str, str | None]]:
    return [(s.text, s.check.describe() if s.check else None) for s in task_subtasks(task_goal(load_task(name)))]


def test_each_clause_gets_the_check_that_names_it() -> None:
    assert _listed("mountain-car") == [("Drive the car up the right hill", None),
                                       ("Reach the flag, as quickly as possible", "position >= 0.45 at some step")]
    assert _listed("hopper") == [("Make the one-legged hopper hop forward as fast as it can", "x_velocity moves +"),
                                 ("Without falling over", "healthy >= 0.5 at every step"),
                                 ("`torso_angle` stays near 0 rad", "|torso_angle - 0| <= 0.06 over the second half")]
    assert _listed("cartpole") == [
        ("Balance the pole upright on the cart for as long as possible", "|pole_angle - 0| <= 0.06285 over the second half"),
        ("Keeping the cart near the centre of the track", "|cart_position - 0| <= 0.72 over the second half")]


def test_a_new_task_on_a_body_reads_its_own_clauses() -> None:
    spec = load_task("mountain-car").adapter.spec
    subtasks = task_subtasks(read_goal(spec, "Drive the car to the left; stay beyond -1.1 m."))
    assert [s.text for s in subtasks] == ["Drive the car to the left", "Stay beyond -1.1 m"]
    assert all(s.source == "task" for s in subtasks)


def test_a_designer_block_is_read_and_its_bad_checks_set_aside() -> None:
    spec = load_task("hopper").adapter.spec
    answer = """I read the task as:
```subtasks
- Hop forward [x_velocity moves +]
- 2) Land on the foot, not the knee
* Stay up [healthy >= 0.5 at every step]
- Keep the torso level [|torso_angle| <= 0.2 over the second half]
- Fly [wings >= 1 at some step]
- Be fast [x_velocity >>= 3]
- Finish far [x_position >= 2 at the end]
- one too many
```
```python
def compute_reward(state, action): ...
```"""
    subtasks, notes = parse_subtasks(answer, spec)
    assert len(subtasks) == MAX_SUBTASKS and all(s.source == "designer" for s in subtasks)
    assert subtasks[0].check == StateCheck(kind="move", field="x_velocity", sign=1)
    assert subtasks[1].text == "2) Land on the foot, not the knee" and subtasks[1].check is None
    assert subtasks[3].check == StateCheck(kind="compare", field="torso_angle", op="<=", threshold=0.2,
                                           when="second_half", around=0.0)
    assert subtasks[4].check is None and subtasks[5].check is None
    assert notes == ("subtask 5: no scalar state field 'wings' (check [wings >= 1 at some step] dropped)",
                     "subtask 6: unreadable check [x_velocity >>= 3] dropped",
                     f"more than {MAX_SUBTASKS} subtasks: the rest were left out")


def test_without_a_block_a_candidate_is_judged_on_the_task_s_subtasks() -> None:
    task = load_task("mountain-car")
    own = task_subtasks(task_goal(task))
    assert candidate_subtasks("```python\nx = 1\n```", task.adapter.spec, own) == own
    assert candidate_subtasks("```subtasks\n- Reach it [position >= 0.5 at some step]\n```", task.adapter.spec,
                              own)[0].check == StateCheck(kind="compare", field="position", op=">=", threshold=0.5)
