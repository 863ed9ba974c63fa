"""A task's termination rule is parsed into a safe expression (envs/adapters/expression.py), never eval-ed."""

from __future__ import annotations

import numpy as np
import pytest

from rewardsmith.core.errors import TaskError
from rewardsmith.core.state import StateField
from rewardsmith.envs.adapters.expression import parse_condition

FIELDS = {f.name: f for f in (
    StateField(name="torso_height", shape=(), unit="m", doc="height"),
    StateField(name="x_velocity", shape=(), unit="m/s", doc="speed"),
    StateField(name="up_vector", shape=(3,), unit="1", doc="up axis"),
)}
BATCH = {"torso_height": np.array([0.2, 0.5, 1.5, 0.5]), "x_velocity": np.array([0.0, -3.0, 1.0, 0.5]),
         "up_vector": np.array([[0, 0, 1.0], [0, 0, 1.0], [0, 0, 1.0], [1.0, 0, 0]])}


@pytest.mark.parametrize(("rule", "expected"), [
    ("torso_height < 0.3", [True, False, False, False]),
    ("torso_height < 0.3 or torso_height > 1.0", [True, False, True, False]),
    ("not (0.3 <= torso_height <= 1.0)", [True, False, True, False]),
    ("abs(x_velocity) > 2 and torso_height > 0.3", [False, True, False, False]),
    ("up_vector[2] < 0.5", [False, False, False, True]),
    ("up_vector[-1] < 0.5", [False, False, False, True]),
    ("min(torso_height, 2 * x_velocity) < 0", [False, True, False, False]),
    ("max(torso_height, x_velocity) - 1 >= 0.5", [False, False, True, False]),
    ("-x_velocity / 2 == 1.5", [False, True, False, False]),
])
def test_rules_evaluate_over_a_batch_as_python_would_read_them(rule: str, expected: list[bool]) -> None:
    condition = parse_condition(rule, FIELDS)
    assert condition.evaluate(BATCH).tolist() == expected
    one = {k: v[1] for k, v in BATCH.items()}  # one env: scalars and a (3,) vector
    assert bool(condition.evaluate(one)) is expected[1]


def test_a_rule_names_the_fields_it_reads() -> None:
    assert parse_condition("torso_height < 0.3 or up_vector[2] < 0", FIELDS).names == ("torso_height", "up_vector")


@pytest.mark.parametrize(("rule", "says"), [
    ("torso_height <", "does not parse"),
    ("torso_hieght < 0.3", "unknown state field 'torso_hieght' (did you mean 'torso_height'?)"),
    ("up_vector < 0.3", "'up_vector' has shape (3,): index one element"),
    ("up_vector[3] < 0", "up_vector[3] is out of range"),
    ("torso_height", "is a number, not a condition"),
    ("__import__('os').system('true') == 0", "only abs(x), min(a, b, ...) and max(a, b, ...) may be called"),
    ("torso_height.real < 1", "Attribute is not allowed"),
    ("torso_height ** 2 < 1", "only + - * / are allowed"),
    ("torso_height < 'a'", "only numbers may be written as constants"),
    ("(torso_height < 1) + 1 > 0", "a condition is used where a number is expected"),
    ("torso_height and x_velocity", "a number is used where a condition is expected"),
    ("[x for x in up_vector] == 0", "ListComp is not allowed"),
    ("torso_height < 0.3\nor x_velocity > 1", "one line"),
    ("", "the rule is empty"),
])
def test_a_bad_rule_is_one_line_that_names_the_problem(rule: str, says: str) -> None:
    with pytest.raises(TaskError) as err:
        parse_condition(rule, FIELDS, "field 'physics.terminate_when'")
    message = str(err.value)
    assert says in message and "\n" not in message
    assert message.startswith("field 'physics.terminate_when': ")


def test_the_same_rule_runs_on_jax_arrays() -> None:
    jax = pytest.importorskip("jax")
    condition = parse_condition("torso_height < 0.3 or up_vector[2] < 0.5", FIELDS)
    values = {k: jax.numpy.asarray(v) for k, v in BATCH.items()}
    rule = jax.jit(lambda v: condition.evaluate(v, jax.numpy))  # traceable into one program
    assert np.asarray(rule(values)).tolist() == [True, False, False, True]
