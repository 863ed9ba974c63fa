"""Run configuration: a typed tree, saved to ``config.json`` and overridable from the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


@dataclass(frozen=True)
class LLMOptions:
    """How an LLM designer calls its model (ignored by the offline and scripted designers).

    Credentials never appear here: litellm reads them from the provider's environment variables.
    """

    api_base: str | None = None
    """Base URL of an OpenAI-compatible server (vLLM, llama.cpp, Ollama's /v1, LM Studio…); None = the provider's."""
    timeout_s: float = 180.0
    """Wall-clock limit of one HTTP call."""
    temperature: float = 1.0
    """Sampling temperature (Eureka samples at 1.0)."""
    response_tokens: int | None = None
    """Most tokens one answer may have; None = the provider's limit."""
    max_cost: float | None = None
    """Stop the run (resumable) before a call would take the total past this many US dollars."""
    max_tokens: int | None = None
    """Stop the run (resumable) before a call would take the total past this many tokens (in + out)."""
    price_in: float | None = None
    """US dollars per million prompt tokens, for models litellm has no price for."""
    price_out: float | None = None
    """US dollars per million completion tokens, for models litellm has no price for."""


@dataclass(frozen=True)
class RunConfig:
    """Options of one ``rewardsmith run``."""

    task: str
    """Path of the task file (built-in tasks are resolved to their file)."""
    designer: str = "offline"
    """``offline``, ``scripted:DIR``, or (with the LLM designer) a litellm model string."""
    rounds: int = 3
    """Rounds (generations) of the loop."""
    samples: int = 4
    """Candidates per round (K)."""
    steps: int | None = None
    """PPO environment steps per candidate; None = the task file's budget."""
    seed: int = 0
    """Training seed shared by every candidate and baseline (common random numbers)."""
    workers: int = 1
    """Training processes running at once."""
    review: Literal["none", "cli", "web", "oracle"] = "none"
    """Pause for review after each round: in the terminal, in the web app (``rewardsmith ui``), or
    by the synthetic preference oracle (noisy ground-truth ranking, for tests and benchmarks)."""
    preference_only: bool = False
    """Select by the reviewer's preferences only; designers never see the fitness (ICPL's setting)."""
    oracle_noise: float = 0.1
    """Noise of the preference oracle, as a fraction of the offered candidates' fitness spread."""
    review_timeout_s: float = 3600.0
    """How long ``--review web`` waits for a submission before the run stops, resumable."""
    videos: bool | None = None
    """Record a rollout video per candidate; None = only when reviewing."""
    executor: Literal["local"] = "local"
    """Where jobs run: local worker processes."""
    baselines: bool = True
    """Also train the env's own reward (human) and the sparse fitness reward, for the HNS."""
    call_timeout_s: float = 5.0
    """Wall-clock limit of one reward call during training."""
    train_timeout_s: float | None = None
    """Wall-clock limit of one training job; None = the task file's ``train.timeout_s``."""
    fix_attempts: int = 2
    """How many times a rejected candidate goes back to the designer with the exact problem (designers that fix)."""
    llm: LLMOptions = field(default_factory=LLMOptions)
    """Options of an LLM designer."""


@dataclass(frozen=True)
class RunRecord:
    """``config.json``: the configuration plus what was detected when the run started."""

    config: RunConfig
    task_name: str
    designer_label: str
    sandbox: str
    created: str
    version: str
