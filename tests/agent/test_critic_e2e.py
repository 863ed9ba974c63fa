"""``rewardsmith run mountain-car --critic openai/fake-vlm --api-base <fake server>`` end to end (slow: ~2 min).

Two rounds of one candidate: each candidate's video is judged, the planted claim that the car reached the flag
(its recorded position never passed 0.45 at this budget) is dropped, the next round's prompt carries the surviving
verdict and not the dropped one, and the summary reports frames and tokens. A resume pays for nothing again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rewardsmith.agent.app.cli import EXIT_OK, main
from rewardsmith.envs.outcomes import load_rollouts
from tests.support.fake_llm import FakeLLM, Reply, ok

KEEP = "KEPT the car rocks back and forth in the valley"
DROP = "DROPPED the car is at the flag"


def _answer(body: dict[str, Any]) -> Reply:
    return ok(json.dumps({"verdicts": [{"subtask": 1, "verdict": "partly", "frame": 1, "reason": KEEP},
                                       {"subtask": 2, "verdict": "done", "frame": 2, "reason": DROP}]}))


@pytest.mark.slow
def test_a_run_with_a_critic_writes_gated_verdicts_that_reach_the_next_prompt(
        fake_llm: FakeLLM, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_llm.respond("fake-vlm", _answer)
    assert main(["run", "mountain-car", "--critic", "openai/fake-vlm", "--api-base", fake_llm.url, "--critic-frames", "5",
                 "--rounds", "2", "--samples", "1", "--steps", "1024", "--no-baselines", "--final-seeds", "0",
                 "--workers", "2", "--out", str(tmp_path)]) == EXIT_OK
    out = capsys.readouterr().out
    (root,) = list(tmp_path.iterdir())
    for rnd in (1, 2):
        cand = root / f"round_0{rnd}" / "cand_01"
        report = json.loads((cand / "critic.json").read_text())
        seed = report["seed"]
        (episode,) = [r for r in load_rollouts(cand / "rollouts.npz") if r.seed == seed]
        assert float(np.max(episode.states[:, 0])) < 0.45, "the planted claim must be false for this test to mean anything"
        assert report["status"] == "ok" and [v["reason"] for v in report["kept"]] == [KEEP]
        assert [c["verdict"]["reason"] for c in report["dropped"]] == [DROP]
        assert "never reached 0.45" in report["dropped"][0]["state"]
        assert 2 <= len(report["frames"]) <= 5 and len(list((cand / "critic").glob("frame_*.jpg"))) == len(report["frames"])
    prompt = (root / "round_02" / "cand_01" / "prompt.md").read_text()
    assert KEEP in prompt and DROP not in prompt
    summary = json.loads((root / "summary.json").read_text())
    critic = summary["critic"]
    assert (critic["judged"], critic["kept"], critic["dropped"], critic["usage"]["calls"]) == (2, 2, 2, 2)
    assert critic["frames"] <= 10 and critic["usage"]["tokens_in"] >= 85 * critic["frames"]
    assert summary["usage"]["calls"] == 0  # the offline designer's: the critic's tokens are counted apart
    assert "critic openai/fake-vlm: 2 candidates judged" in out and "2 dropped as contradicted" in out
    requests = len(fake_llm.requests)
    assert [len(r.images) for r in fake_llm.requests] == [len(json.loads((root / f"round_0{n}" / "cand_01" / "critic.json")
                                                                      .read_text())["frames"]) for n in (1, 2)]

    assert main(["resume", str(root)]) == EXIT_OK
    assert len(fake_llm.requests) == requests
