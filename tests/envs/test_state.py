"""Named state fields: packing, read-only views, helpful errors, the generated description."""

from __future__ import annotations

import numpy as np
import pytest

from rewardsmith.core.state import ActionSpec, StateField, StateSpec

SPEC = StateSpec(
    fields=(StateField(name="x_velocity", shape=(), unit="m/s", doc="forward speed", kind="velocity", forward_sign=1),
            StateField(name="joint_pos", shape=(3,), unit="rad", doc="joint angles", low=-1.0, high=1.0),
            StateField(name="target", shape=(), unit="m", doc="goal", target=0.5, target_kind="reach_at_least")),
    action=ActionSpec(2, "torques", -1.0, 1.0),
)


def test_pack_and_unpack_round_trip() -> None:
    values = {"x_velocity": np.array([1.0, 2.0]), "joint_pos": np.arange(6.0).reshape(2, 3),
              "target": np.array([0.1, 0.2])}
    flat = SPEC.pack(values)
    assert flat.shape == (2, SPEC.size) == (2, 5)
    state = SPEC.unpack(flat)
    assert state.joint_pos.shape == (2, 3)
    np.testing.assert_array_equal(state.joint_pos, values["joint_pos"])
    np.testing.assert_array_equal(state.x_velocity, values["x_velocity"])


def test_views_of_a_read_only_batch_cannot_be_written() -> None:
    flat = np.zeros((4, SPEC.size))
    flat.flags.writeable = False
    state = SPEC.unpack(flat)
    with pytest.raises(ValueError):
        state.x_velocity[0] = 1.0
    with pytest.raises(AttributeError, match="read-only"):
        state.x_velocity = np.ones(4)  # type: ignore[misc]


def test_unknown_field_error_lists_the_fields() -> None:
    state = SPEC.unpack(np.zeros((1, SPEC.size)))
    with pytest.raises(AttributeError) as err:
        _ = state.speed
    assert "'speed'" in str(err.value) and "x_velocity" in str(err.value) and "joint_pos" in str(err.value)


def test_description_is_generated_from_the_spec() -> None:
    text = SPEC.describe()
    assert "state.x_velocity: (B,) float, m/s — forward speed" in text
    assert "state.joint_pos: (B, 3) float, rad — joint angles (range [-1, 1])" in text
    assert "reference value 0.5" in text and "goal: reach" not in text  # task-neutral: the goal is the task's
    assert "action: (B, 2) float — torques (range [-1, 1])" in text


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        StateSpec(fields=(StateField(name="a", shape=(), unit="m", doc="x"), StateField(name="a", shape=(), unit="m", doc="y")), action=ActionSpec(1, "u"))
