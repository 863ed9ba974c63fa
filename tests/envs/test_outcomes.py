"""Episode summaries recorded by the evaluation job: per field (units of the spec), per action, how it ended."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rewardsmith.core.atomic import read_record, write_json
from rewardsmith.envs.adapters.mujoco import HopperAdapter
from rewardsmith.envs.evaluation import EvaluationResult, FitnessStats
from rewardsmith.envs.fitness import Episode
from rewardsmith.envs.outcomes import outcome_of


def _hopper_episode() -> Episode:
    spec = HopperAdapter.spec
    rows = []
    for t in range(50):
        row = np.zeros(spec.size)
        values = spec.unpack(row[None, :])
        row_dict = {k: np.array(v[0], dtype=np.float64) for k, v in values.as_dict().items()}
        row_dict["x_position"] = np.array(0.02 * t)
        row_dict["torso_height"] = np.array(1.25 if t < 49 else 0.6)
        row_dict["joint_vel"] = np.array([3.0, 4.0, 0.0])
        row_dict["healthy"] = np.array(1.0 if t < 49 else 0.0)
        rows.append(spec.pack({k: v[None] for k, v in row_dict.items()})[0])
    actions = [np.array([1.0, -1.0, 0.5]) * (1 if t % 2 else -1) for t in range(50)]
    return Episode.from_rows(spec, rows, actions, [1.0] * 50, terminated=True, truncated=False)


def test_outcome_traces_fields_vectors_by_norm_and_actions() -> None:
    out = outcome_of(_hopper_episode(), HopperAdapter.spec, 3, "heldout", 0.98)
    assert out.terminated and not out.truncated and out.length == 50 and out.seed == 3
    height = out.fields["torso_height"]
    assert height.last == 0.6 and height.usual_abs == 1.25 and height.min == 0.6
    x = out.fields["x_position"]
    assert np.isclose(x.path, 0.98) and x.reversals == 0
    assert out.fields["joint_vel"].norm and np.isclose(out.fields["joint_vel"].last, 5.0)
    assert out.fields["healthy"].last == 0.0 and out.fields["healthy"].usual_abs == 1.0
    assert out.fields["torso_angle"].gap == 0.0  # a field with a hold target gets its distance to it
    assert out.action.switch_rate == 1.0 and np.isclose(out.action.mean_abs, (1 + 1 + 0.5) / 3)


def test_evaluation_result_with_outcomes_round_trips_and_old_files_still_read(tmp_path: Path) -> None:
    stats = FitnessStats(1.0, 0.0, (1.0,), (5,))
    outcome = outcome_of(_hopper_episode(), HopperAdapter.spec, 5, "selection", 1.0)
    write_json(tmp_path / "fitness.json", EvaluationResult(stats, stats, 50.0, 1.0, (outcome,)))
    back = read_record(tmp_path / "fitness.json", EvaluationResult)
    assert back.episodes == (outcome,)
    (tmp_path / "old.json").write_text('{"selection": {"mean": 1, "std": 0, "values": [1], "seeds": [5]}, '
                                       '"heldout": {"mean": 1, "std": 0, "values": [1], "seeds": [5]}, '
                                       '"episode_length": 50, "wall_s": 1}')
    assert read_record(tmp_path / "old.json", EvaluationResult).episodes == ()


def test_the_evaluation_job_records_every_episode_and_keeps_its_rollouts(tmp_path: Path) -> None:
    from stable_baselines3.common.policies import ActorCriticPolicy

    from rewardsmith.agent.rundir.store import RunStore, TargetFiles
    from rewardsmith.envs.backends.records import policy_config_of
    from rewardsmith.envs.evaluation import evaluate, seed_sets
    from rewardsmith.envs.outcomes import load_rollouts
    from rewardsmith.envs.tasks import builtin_task_files, load_task_file

    cartpole = builtin_task_files()["cartpole"]
    files = TargetFiles(tmp_path)
    task = load_task_file(cartpole)
    env = task.make_env()
    config = policy_config_of(task)  # an untrained policy, saved as the trainer saves one
    policy = ActorCriticPolicy(env.observation_space, env.action_space, lambda _: 0.0, use_sde=config.use_sde,
                               **config.policy_kwargs)
    env.close()
    np.savez(files.policy, **{k: v.detach().numpy() for k, v in policy.state_dict().items()})
    selection, heldout = seed_sets(0, 2, 3)
    result = evaluate(files.eval_job(cartpole, selection, heldout))
    assert [(o.seed, o.split) for o in result.episodes] == [(s, "selection") for s in selection] + [
        (s, "heldout") for s in heldout]
    assert [o.fitness for o in result.episodes if o.split == "heldout"] == list(result.heldout.values)
    assert all(o.terminated != o.truncated for o in result.episodes)  # CartPole ends one way or the other
    rollouts = load_rollouts(files.rollouts)
    assert [r.seed for r in rollouts] == [*selection, *heldout]
    assert [len(r.states) for r in rollouts] == [o.length for o in result.episodes]
    assert RunStore(tmp_path).outcome(files).evaluation == result
