"""``rewardsmith export RUN_DIR``: a run's best reward as a folder to train with in one's own code.

The folder (its file names are :class:`agent.rundir.store.ExportFiles`'s) holds the reward module, the task's
state field table, the trained policy as a stable-baselines3 PPO model written here (rebuilt from
``policy.npz`` with the task's PPO settings, so ``PPO.load`` works and acts exactly like RewardSmith's
evaluator), a manifest, a copy of a custom state adapter when the task has one, and a README whose
SB3 example trains with :class:`envs.gym_reward.RewardSmithReward`. The folder needs RewardSmith
installed (for the adapter and the sandbox); ``policy.zip`` alone needs only stable-baselines3.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from rewardsmith.agent.rundir.store import ExportFiles, RunStore, parse_candidate_id
from rewardsmith.core.atomic import write_bytes, write_json, write_text
from rewardsmith.core.errors import ConfigError, RunStoreError
from rewardsmith.core.state import StateSpec
from rewardsmith.envs.backends import sb3_state_dict
from rewardsmith.envs.backends.records import PolicyConfig, policy_config_of
from rewardsmith.envs.tasks import Task, load_task

FORMAT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class ExportManifest:
    """``rewardsmith.json``: what an export holds and where it came from."""

    format_version: int = FORMAT_VERSION
    task: str
    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    run_dir: str
    candidate: str
    """The exported candidate's id (``r01c02``)."""
    components: tuple[str, ...]
    heldout_fitness: float | None
    adapter: str
    """``builtin`` (RewardSmith's adapter for ``env_id``) or ``file.py:ClassName`` (copied into the folder)."""
    ppo: dict[str, Any]
    """The task's PPO settings, as SB3 keyword arguments; ``policy.zip`` carries them too."""
    n_envs: int
    train_steps: int


@dataclass(frozen=True)
class ExportResult:
    files: ExportFiles
    manifest: ExportManifest


def export_run(run_dir: Path, out: Path | None = None, candidate: str | None = None) -> ExportResult:
    """Write the export folder of ``run_dir``'s best candidate (or of ``candidate``, an id like ``r01c02``).

    Raises:
        RunStoreError: not a run, no trained candidate to export, or unreadable files.
        ConfigError: ``out`` exists and is something other than an earlier export.
    """
    store = RunStore(run_dir)
    task = load_task(store.load_record().config.task)
    cid = candidate or _best_id(store)
    result = store.load_result_by_id(cid)
    if result is None:
        raise RunStoreError(f"{run_dir} has no candidate {cid!r}")
    parsed = parse_candidate_id(cid)
    assert parsed is not None
    source = store.files(*parsed)
    if result.training is None or not result.training.trained or not store.has_policy(source):
        raise RunStoreError(f"candidate {cid} of {run_dir} has no trained policy to export")
    files = store.export_files(out)
    _check_out_dir(files)

    adapter_ref = "builtin"
    if task.adapter_ref is not None:
        file_part, cls_name = task.adapter_ref.rsplit(":", 1)
        write_bytes(files.adapter, (task.source.parent / file_part).read_bytes())
        adapter_ref = f"{files.adapter.name}:{cls_name}"
    manifest = ExportManifest(
        task=task.name, env_id=task.env_id, env_kwargs=dict(task.env_kwargs), run_dir=str(run_dir.resolve()),
        candidate=cid, components=result.validation.components,
        heldout_fitness=result.evaluation.heldout.mean if result.evaluation is not None else None,
        adapter=adapter_ref, ppo=task.train.ppo.sb3_kwargs() | {"policy_kwargs": task.train.ppo.policy_kwargs()},
        n_envs=task.train.n_envs, train_steps=task.train.steps,
    )
    write_bytes(files.reward, source.reward.read_bytes())
    write_text(files.fields, field_table(task.adapter.spec, task.env_id))
    write_bytes(files.policy, sb3_model_bytes(source.policy, task, result.training.policy))
    write_json(files.manifest, manifest)
    write_text(files.readme, render_readme(files, manifest, task))  # last: a folder with a README is complete
    return ExportResult(files, manifest)


def _best_id(store: RunStore) -> str:
    summary = store.load_summary()
    if summary is None or summary.best_id is None:
        raise RunStoreError(f"{store.root} has no best candidate yet (no summary, or nothing trained); finish it "
                            f"with: rewardsmith resume {store.root}, or name one with --candidate rRRcKK")
    return summary.best_id


def _check_out_dir(files: ExportFiles) -> None:
    """An existing folder is only written into if it is empty or an earlier export (whose files are replaced)."""
    if files.dir.exists() and (not files.dir.is_dir() or (any(files.dir.iterdir()) and not files.manifest.is_file())):
        raise ConfigError(f"{files.dir} exists and is not a RewardSmith export; choose another --out")


def sb3_model_bytes(policy_npz: Path, task: Task, policy: PolicyConfig | None = None) -> bytes:
    """An SB3 ``PPO`` zip of the trained policy: the task's PPO settings and architecture, the arrays of ``policy_npz``.

    Built the way the trainer builds its model (same policy class, settings and number of envs), so
    ``PPO.load`` gives back the policy the evaluator played, and ``PPO.load(..., env=env).learn()``
    continues training it with the task's settings. ``policy`` is the training record's (who wrote the file;
    default: SB3 with the task's architecture): a policy the jax backend trained is the same network under
    flax's names, renamed into SB3's (:func:`envs.backends.sb3_state_dict`).
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    config = policy_config_of(task)
    ppo_kwargs: dict[str, Any] = {k: v for k, v in task.train.ppo.sb3_kwargs().items() if k != "use_sde"}
    venv = DummyVecEnv([task.make_env for _ in range(task.train.n_envs)])
    try:
        model = PPO("MlpPolicy", venv, device="cpu", verbose=0, use_sde=config.use_sde,
                    policy_kwargs=dict(config.policy_kwargs), **ppo_kwargs)
        try:
            arrays = sb3_state_dict(policy_npz, policy or config)
            model.policy.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()})
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunStoreError(f"{policy_npz}: not a policy of this task's architecture ({first})") from None
        buf = io.BytesIO()
        model.save(buf)
    finally:
        venv.close()
    return buf.getvalue()


def field_table(spec: StateSpec, env_id: str) -> str:
    """The state fields as a Markdown table (what ``state.<name>`` holds in the reward)."""
    rows = ["| field | shape | unit | meaning | usual range | target |", "|---|---|---|---|---|---|"]
    for f in spec.fields:
        shape = "(B" + "".join(f", {n}" for n in f.shape) + ")" if f.shape else "(B,)"
        rng = f"[{f.low:g}, {f.high:g}]" if f.low is not None and f.high is not None else ""
        target = f"{f.target_kind or 'hold'} {f.target:g}" if f.target is not None else ""
        rows.append(f"| `state.{f.name}` | {shape} | {f.unit} | {_cell(f.doc)} | {rng} | {target} |")
    act = spec.action
    rng = f" (range [{act.low:g}, {act.high:g}])" if act.low is not None and act.high is not None else ""
    notes = "".join(f"\n{n}\n" for n in spec.notes)
    return (f"# State fields of {env_id}\n\n`compute_reward(state, action)` receives a batch of B states; "
            f"each field is a float64 array.\n\n" + "\n".join(rows)
            + f"\n\n`action`: (B, {act.dim}) float — {act.doc}{rng}\n{notes}")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


README = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True).from_string("""\
# {{ m.task }}: a reward designed by RewardSmith

Candidate {{ m.candidate }} of the run `{{ m.run_dir }}`{% if fitness %}, held-out fitness {{ fitness }}{% endif %}.
It rewards the task: {{ description }}

| file | what it is |
|---|---|
| `{{ f.reward.name }}` | the reward: `compute_reward(state, action)` returns the total and its components ({{ components }}) |
| `{{ f.fields.name }}` | the state fields of `{{ m.env_id }}` it reads (`state.<field>`) |
| `{{ f.policy.name }}` | the policy RewardSmith trained with it: a stable-baselines3 PPO model with the task's settings |
| `{{ f.manifest.name }}` | what was exported and from where (task, candidate, adapter, PPO settings) |
{% if custom_adapter %}| `{{ f.adapter.name }}` | the task's own state adapter (class `{{ adapter_class }}`) |
{% endif %}
**Requirements.** This folder works with RewardSmith installed (`pip install` of the RewardSmith
repository): the wrapper reads the state fields with {% if custom_adapter %}the adapter in `{{ f.adapter.name }}`
(a RewardSmith `StateAdapter`){% else %}RewardSmith's built-in adapter for `{{ m.env_id }}`{% endif %} and runs the reward in
RewardSmith's sandboxed worker (bubblewrap + seccomp + rlimits, Linux). `{{ f.policy.name }}` alone needs only
stable-baselines3: `PPO.load("{{ f.policy.name }}")`.

## Train with it (stable-baselines3)

Run this in this folder; it goes on training RewardSmith's policy on the designed reward
(`PPO("MlpPolicy", env)` starts from scratch instead):

```python
import gymnasium as gym
import torch
from stable_baselines3 import PPO
{% if custom_adapter %}
from {{ adapter_module }} import {{ adapter_class }}{% endif %}
from rewardsmith.envs.gym_reward import RewardSmithReward{% if model_task %}
from rewardsmith.envs.tasks import load_task{% endif %}

STEPS = 50_000  # RewardSmith trained each candidate for {{ "{:,}".format(m.train_steps) }} steps, with {{ m.n_envs }} envs
torch.set_num_threads(1)  # a small MLP trains fastest on one thread; more contend with the reward worker
env = RewardSmithReward({{ make_env }}, "{{ f.reward.name }}"{{ adapter_arg }})  # reward in a sandboxed worker
model = PPO.load("{{ f.policy.name }}", env=env)  # RewardSmith's policy and the task's PPO settings
model.learn(total_timesteps=STEPS)
obs, info = env.reset(seed=0)
obs, reward, terminated, truncated, info = env.step(model.predict(obs, deterministic=True)[0])
print(f"reward {reward:.3f}", {k: round(v, 3) for k, v in info.items() if k.startswith("reward_")})
env.close()
```

Each step's reward is the reward's total; `info["reward_<name>"]` holds each component (as
Gymnasium's MuJoCo environments report theirs) and `info["env_reward"]` the environment's own reward.
Termination, truncation and observations stay the environment's. `RewardSmithReward(..., trusted=True)`
runs the reward inside your process instead of the sandbox: only for code you have read.
""")


def render_readme(files: ExportFiles, manifest: ExportManifest, task: Task) -> str:
    """The export's README, with an SB3 example written for this task's environment."""
    kwargs = "".join(f", {k}={v!r}" for k, v in manifest.env_kwargs.items())
    adapter_class = manifest.adapter.rsplit(":", 1)[1] if manifest.adapter != "builtin" else ""
    custom = bool(adapter_class)
    make_env = f"gym.make({json.dumps(manifest.env_id)}{kwargs})"
    adapter_arg = f", adapter={adapter_class}()" if custom else ""
    if task.model is not None:  # a task on a MuJoCo model: its file builds the env and reads the fields
        make_env = f"load_task({json.dumps(str(task.source))}).make_env()"
        adapter_arg = f", task={json.dumps(str(task.source))}"
    return README.render(
        m=manifest, f=files, description=task.description,
        fitness=f"{manifest.heldout_fitness:.4g}" if manifest.heldout_fitness is not None else "",
        components=", ".join(f"`{c}`" for c in manifest.components) or "none",
        custom_adapter=custom, adapter_class=adapter_class, adapter_module=files.adapter.stem,
        make_env=make_env, adapter_arg=adapter_arg, model_task=task.model is not None,
    )
