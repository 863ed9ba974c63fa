"""``rewardsmith validate TASK FILE [--json]``: exit 0 accepted, 1 rejected, 2 usage; the JSON verdict."""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"


def test_accepted_reward_exits_0_with_the_sandbox_named(run_cli) -> None:
    proc = run_cli("validate", "cartpole", str(CORPUS / "good_simple.py"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["accepted"] is True and report["stage"] == "probe" and report["reason"] == "ok"
    assert report["sandbox"].startswith("sandbox: ")
    assert {"static_ms", "load_ms", "probe_ms"} <= set(report["timings_ms"])


def test_rejected_reward_exits_1_with_a_message_for_the_designer(run_cli) -> None:
    proc = run_cli("validate", "cartpole", str(CORPUS / "numpy_ctypeslib.py"), "--json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["accepted"], report["stage"], report["reason"]) == (False, "static", "not_allowed")
    assert report["message"].startswith("line ")
    human = run_cli("validate", "cartpole", str(CORPUS / "nan_reward.py"))
    assert human.returncode == 1 and "rejected at the probe stage" in human.stdout


def test_usage_errors_exit_2(run_cli, tmp_path: Path) -> None:
    assert run_cli("validate", "cartpole").returncode == 2
    assert run_cli("validate", "cartpole", str(tmp_path / "missing.py")).returncode == 2
    assert run_cli("validate", "no-such-task", str(CORPUS / "good_simple.py")).returncode == 2
