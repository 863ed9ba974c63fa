"""Run configuration: a typed tree, saved to ``config.json`` and overridable from the CLI."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rewardsmith.core.backend_names import BackendName as BackendName  # re-exported: the run names backends by it
from rewardsmith.core.errors import ConfigError

if TYPE_CHECKING:  # the allocation's module is under envs/, whose import the command line's start does not pay
    from rewardsmith.agent.records.train import Allocation


@dataclass(frozen=True)
class Flag:
    """What the CLI needs to know about a config field beyond its name, type, default and docstring."""

    name: str | None = None
    """The flag, e.g. ``--review-timeout``; None = ``--`` + the field name with dashes."""
    negate: bool = False
    """A bool that defaults to True is switched off by this flag (``--no-baselines``)."""
    default: Callable[[], Any] | None = None
    """The CLI's default when it differs from the dataclass's (computed when the parser is built)."""
    resume: bool = False
    """``rewardsmith resume`` may change this option too."""
    cli: bool = True
    """False: not an option of the command line (set by the program, e.g. the task file)."""
    off: str | None = None
    """A second flag that sets an optional bool to False (``--no-video`` beside ``--video``)."""
    at_least: float | None = None
    """The smallest value a number option takes (``--rounds`` at least 1)."""
    above: float | None = None
    """A number option must be greater than this (a timeout above 0)."""
    at_most: float | None = None
    """The largest value a number option takes: absurd values are refused before anything runs, not
    left to spin or overflow a timer (``--rounds 10**25``)."""
    below: float | None = None
    """A number option must be less than this (a fraction below 1)."""
    metavar: str | None = None
    """What the help calls the value (default: the field's name; ``SECONDS`` for a ``_s`` field)."""
    default_help: str | None = None
    """How the help names a default computed at start-up (``--workers``: "this machine's cores")."""


def flag(**kwargs: Any) -> dict[str, Flag]:
    """Field metadata: ``field(default=…, metadata=flag(name="--review-timeout"))``."""
    return {"flag": Flag(**kwargs)}




DEFAULT_ETA = 4
"""``--allocation``'s reduction factor without ``--halving``: the best quarter goes on at each rung."""

DAY_S = 86_400.0
"""A day in seconds: the longest a timeout option may be (a longer one is a typo, and past ~292 years
``threading`` refuses it with an ``OverflowError`` mid-run)."""


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


@dataclass(frozen=True, kw_only=True)
class LLMOptions:
    """How an LLM designer calls its model (ignored by the offline and scripted designers).

    Credentials never appear here: litellm reads them from the provider's environment variables.
    """

    api_base: str | None = field(default=None, metadata=flag(resume=True))
    """Base URL of an OpenAI-compatible server (vLLM, llama.cpp, Ollama's /v1, LM Studio…); None = the provider's."""
    timeout_s: float = field(default=180.0, metadata=flag(name="--llm-timeout", above=0, at_most=DAY_S))
    """Wall-clock limit of one LLM call, the whole call (not per read)."""
    temperature: float = field(default=1.0, metadata=flag(at_least=0))
    """Sampling temperature; Eureka samples at 1.0."""
    response_tokens: int | None = field(default=None, metadata=flag(at_least=1, at_most=10_000_000))
    """Most tokens one answer may have; None = the provider's limit."""
    max_cost: float | None = field(default=None, metadata=flag(resume=True, at_least=0))
    """Stop the run (resumable) before a call would take the total past this many US dollars."""
    max_tokens: int | None = field(default=None, metadata=flag(resume=True, at_least=0))
    """Stop the run (resumable) before a call would take the total past this many tokens (in + out)."""
    price_in: float | None = field(default=None, metadata=flag(at_least=0))
    """US dollars per million prompt tokens, for models litellm has no price for."""
    price_out: float | None = field(default=None, metadata=flag(at_least=0))
    """US dollars per million completion tokens, for models litellm has no price for."""


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Options of one ``rewardsmith run``."""

    task: str = field(metadata=flag(cli=False))
    """Path of the task file (built-in tasks are resolved to their file)."""
    designer: str = "offline"
    """offline (no LLM) | a litellm model, e.g. openai/gpt-4o-mini | scripted:DIR | replay:RUN_DIR (the answers
    recorded in another run, no LLM calls)."""
    rounds: int = field(default=3, metadata=flag(resume=True, at_least=1, at_most=1000))
    """Rounds (generations) of the loop."""
    samples: int = field(default=4, metadata=flag(at_least=1, at_most=1000))
    """Candidates each round samples, K."""
    steps: int | None = field(default=None, metadata=flag(at_least=1, at_most=10**10))
    """PPO environment steps per candidate; None = the task file's budget on the run's backend, recorded when a run
    starts so that a resume keeps it."""
    seed: int = field(default=0, metadata=flag(at_least=0, at_most=2**31 - 1))
    """Training seed, the same for every candidate and baseline so that they compare fairly."""
    workers: int = field(default=1, metadata=flag(default=default_workers, default_help="this machine's cores",
                                                  resume=True, at_least=1, at_most=1024))
    """Training processes running at once."""
    review: Literal["none", "cli", "web", "oracle"] = "none"
    """Pause after each round for a review: in the terminal (cli), in the web app (web, see ``rewardsmith ui``),
    by a synthetic preference oracle that ranks by the fitness plus noise (oracle, for tests and benchmarks),
    or not at all (none)."""
    preference_only: bool = field(default=False, metadata=flag(name="--preferences-only"))
    """Select by the reviewer's preferences only; designers never see the fitness (ICPL's setting)."""
    oracle_noise: float = field(default=0.1, metadata=flag(at_least=0))
    """Noise of the preference oracle, as a fraction of the offered candidates' fitness spread."""
    review_timeout_s: float = field(default=3600.0, metadata=flag(name="--review-timeout", above=0, at_most=30 * DAY_S))
    """How long ``--review web`` waits for a review before the run stops; it can be resumed."""
    videos: bool | None = field(default=None, metadata=flag(name="--video", off="--no-video"))
    """Record a rollout video per candidate (default: only when reviewing; --no-video: never)."""
    backend: BackendName | Literal["auto"] = "sb3"
    """Training backend: sb3 (one SB3 PPO process per candidate) | jax (all candidates of a round in one compiled JAX program; classic control, the eight MuJoCo tasks and tasks on a MuJoCo model) | auto (jax where the task has a JAX environment and it is the faster one here)."""
    screen: bool = field(default=True, metadata=flag(name="--no-screen", negate=True))
    """From round 2 on, do not train a candidate whose reward ranks earlier rounds' stored episodes opposite to
    their fitness (a CARD-style screen)."""
    executor: Literal["local", "ray"] = "local"
    """Where training jobs run: local worker processes, or tasks on a Ray cluster (``pip install 'rewardsmith[ray]'``)."""
    ray_address: str | None = field(default=None, metadata=flag(resume=True))
    """With --executor ray: a running cluster's address (``ray start --head``); None = a local Ray instance on 127.0.0.1 for the run."""
    allocation: Literal["none", "halving", "bandit"] | None = None
    """How each round's budget is spread over its candidates: every candidate trains the full budget (none);
    successive halving (all train to the first rung, the best 1/ETA by their recent training fitness go on);
    or a bandit that also stops a candidate between rungs once its optimistic fitness stays below the best
    one's pessimistic fitness at two checks in a row, within halving's budget. Default: halving with --halving,
    else none."""
    halving: int | None = field(default=None, metadata=flag(at_least=2, at_most=100, metavar="ETA"))
    """The allocation's reduction factor, e.g. 4: after each rung the best 1/ETA continue (halving; the bandit's
    budget); alone it means --allocation halving. Default with --allocation: 4."""
    first_rung: float = field(default=1 / 4, metadata=flag(above=0, below=1, metavar="FRACTION"))
    """With --allocation: the first rung's budget as a fraction of the full training budget. Shorter rungs rank by
    noise: the candidates' fitness ranks like their held-out fitness at the full budget only from about 1/5-1/4 of
    it on CartPole and Pendulum, 1/3 on MountainCarContinuous (docs/benchmarks.md, issue 22)."""
    baselines: bool = field(default=True, metadata=flag(name="--no-baselines", negate=True))
    """Also train the env's own reward ("human") and a sparse reward on the task's fitness, to compare with and
    for the human-normalized score."""
    final_seeds: int = field(default=3, metadata=flag(resume=True, at_least=0, at_most=100))
    """After the last round, retrain the best reward (and the baselines) on this many fresh training seeds and
    report the mean ± spread over them; 0 skips it."""
    dry_run: bool = field(default=False, metadata=flag(name="--dry-run"))
    """Print what the run would train and its estimated time on this machine, and exit without running."""
    call_timeout_s: float = field(default=5.0, metadata=flag(name="--call-timeout", above=0, at_most=DAY_S))
    """Wall-clock limit of one reward call during training."""
    train_timeout_s: float | None = field(default=None, metadata=flag(name="--train-timeout", above=0,
                                                                      at_most=30 * DAY_S))
    """Wall-clock limit of one training job; None = the task file's ``train.timeout_s``."""
    selection: Literal["last-best", "top-k", "tree"] = "last-best"
    """Which earlier candidates the next prompt builds on: the last round's best (Eureka), the best plus a different runner-up (top-k), or UCB over the whole lineage tree (RF-Agent-style)."""
    tune: bool = False
    """Between rounds, tune the selected reward's named constants with Optuna (TPE + successive halving); the tuned reward joins the next round as candidate K+2."""
    tune_trials: int = field(default=8, metadata=flag(at_least=1, at_most=10_000))
    """Optuna trials per --tune study."""
    fix_attempts: int = field(default=2, metadata=flag(at_least=0, at_most=20))
    """How many times a rejected candidate goes back to the designer, with the exact problem, to be fixed
    (designers that can fix)."""
    allow_weak_sandbox: bool = field(default=False, metadata=flag(name="--allow-weak-sandbox", resume=True))
    """Run candidate code even below bubblewrap + seccomp + rlimits (the static check is then the main barrier; see sandboxes/README.md)."""
    critic: str | None = field(default=None, metadata=flag(metavar="MODEL"))
    """A vision-language model (any litellm vision model, e.g. openai/gpt-4o-mini; --api-base reaches a local
    server) that watches frames of each trained candidate's video and judges the task's subtasks; a verdict the
    recorded state contradicts is dropped (the run records videos for it); None = no critic."""
    critic_frames: int = field(default=6, metadata=flag(at_least=1, at_most=16, metavar="N"))
    """Frames of one rollout the critic sees per candidate, picked around its key moments (start, peaks, the end)."""
    critic_timeout_s: float = field(default=60.0, metadata=flag(name="--critic-timeout", above=0, at_most=DAY_S))
    """Wall-clock limit of one critic call; after a failed call the round's other candidates go without the critic."""
    critic_max_tokens: int = field(default=200_000, metadata=flag(resume=True, at_least=0, at_most=10**10))
    """The critic's calls stop (the run goes on without them) before they would take its total past this many
    tokens (in + out)."""
    llm: LLMOptions = field(default_factory=LLMOptions, metadata=flag(cli=False))
    """Options of an LLM designer."""

    @property
    def allocation_plan(self) -> Allocation | None:
        """The allocation ``--allocation`` / ``--halving`` ask for (None: every candidate trains the full budget)."""
        from rewardsmith.agent.records.train import Allocation, HalvingSchedule

        policy = self.allocation or ("halving" if self.halving is not None else "none")
        if policy == "none":
            return None
        try:
            return Allocation(policy=policy, schedule=HalvingSchedule(eta=self.halving or DEFAULT_ETA,
                                                                      first_rung=self.first_rung))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def records_videos(self) -> bool:
        """Rollout videos are recorded when a person or the critic watches them (or when asked for with ``--video``)."""
        return self.videos if self.videos is not None else self.review in ("cli", "web") or self.critic is not None


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """``config.json``: the configuration plus what was detected when the run started."""

    config: RunConfig
    task_name: str
    designer_label: str
    sandbox: str
    created: str
    version: str
