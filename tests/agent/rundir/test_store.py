"""The run store (``agent/rundir/store.py`` with ``agent/rundir/layout.py``) is the run directory's only owner."""

from __future__ import annotations

import ast
from pathlib import Path

from rewardsmith.agent.records.results import JobFailure
from rewardsmith.agent.rundir.store import RunStore

ROOT = Path(__file__).resolve().parents[3]
RUN_FILES = {
    "config.json", "summary.json", "best_reward.py", "feedback.json", "review.json", "human.json", "stopped.json",
    "prompt.md", "response.md", "reward.py", "candidate.json", "validation.json", "metrics.json", "fitness.json",
    "policy.npz", "progress.json", "video.mp4", "video.json", "failures.json", "critique.md", "critique.json",
    "train_job.json", "eval_job.json", "video_job.json", "run.lock", "training.png", "fitness.png", "curves.png", "reward.jaxexport", "reward_jax.json",
    "jax_round_job.json", "jax_round.json", "rollouts.npz", "screen.json",
    "checkpoint.npz", "early_stop.json", "costs.json", "halving.json", "study.db", "source_reward.py", "tune.json", "tuned_reward.py",
    "tuned.diff", "tune.lock", "parents.json", "lineage.json",
}
RUN_DIR_PREFIXES = ("round_", "cand_", "attempt_", "baselines", "tune/", "trial_", "rung_", "batch-")
# The sandbox compiles candidate code under the name "reward.py" so that tracebacks and line numbers read
# naturally for the designer; no file of that name is opened there.
PSEUDO_FILENAMES = {("sandboxes", "reward.py")}


def _literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    in_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    found = [(n.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in n.values))
             for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)]
    return found + [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant)
                    and isinstance(n.value, str) and id(n) not in docstrings and id(n) not in in_fstrings]


def test_no_module_outside_the_store_names_a_run_directory_file() -> None:
    offenders = []
    for package in ("core", "sandboxes", "envs", "agent"):
        for path in (ROOT / package).rglob("*.py"):
            if path in (ROOT / "agent" / "rundir" / "store.py", ROOT / "agent" / "rundir" / "layout.py"):  # the store, its layout
                continue
            for line, text in _literals(path):
                name = text.strip("/").split("/")[-1]
                if (package, text) in PSEUDO_FILENAMES or text.startswith("/runs/"):  # a URL route, not a path
                    continue
                if name in RUN_FILES or any(text.startswith(p) for p in RUN_DIR_PREFIXES):
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert offenders == []


def test_a_dead_jobs_record_has_its_own_file_and_reads_back_as_the_targets_training(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    files = store.files(1, 2)
    assert store.outcome(files).training is None and not store.is_finished(files)
    store.save_failures(files, (JobFailure(kind="train", status="timeout", detail="killed after 4 s", wall_s=4.0,
                                           reward_kind="candidate"),))
    store.save_failures(files, (JobFailure(kind="video", status="crashed", detail="exit code 1", wall_s=1.0,
                                           reward_kind="candidate"),))
    outcome = store.outcome(files)
    assert outcome.training is not None and outcome.training.status == "timeout"
    assert outcome.video is not None and outcome.video.status == "crashed"
    assert store.is_finished(files)  # a job that died is not retried on resume
    assert not files.metrics.exists() and not files.video_result.exists()  # the jobs' own files stay theirs


def test_a_run_is_held_by_one_process_at_a_time(tmp_path: Path) -> None:
    import subprocess
    import sys

    store = RunStore(tmp_path)
    with store.lock():
        other = subprocess.run([sys.executable, "-c", (
            "import sys; from pathlib import Path; from rewardsmith.agent.rundir.store import RunStore\n"
            "from rewardsmith.core.errors import ConfigError\n"
            f"try:\n    RunStore(Path({str(tmp_path)!r})).lock().__enter__()\n"
            "except ConfigError as e:\n    print(e); sys.exit(7)\n")], capture_output=True, text=True, timeout=60,
            cwd=ROOT)
        assert other.returncode == 7 and "is in use by pid" in other.stdout
    with store.lock():  # released: the same or another process may take it again
        pass


def test_whether_a_run_is_held_is_read_without_taking_the_lock(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    assert not store.is_held()  # no lock file yet
    with store.lock():
        assert store.is_held()
    assert not store.is_held()  # released (the file stays)
