"""Typed records that flow between the loop's stages and are stored in the run directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rewardsmith.agent.records.review import HumanFeedback
from rewardsmith.agent.records.subtasks import Subtask
from rewardsmith.agent.records.train import EarlyStop
from rewardsmith.envs.backends.records import RewardKind, TrainingResult
from rewardsmith.envs.evaluation import EvaluationResult
from rewardsmith.envs.video import VideoResult
from rewardsmith.sandboxes.validate import ValidationReport

CandidateStatus = Literal["ok", "rejected", "crashed", "timeout", "nan", "pending", "skipped", "stopped"]


@dataclass(frozen=True, kw_only=True)
class Usage:
    """What LLM calls cost: tokens, money (when a price is known), time. Zero for designers without an LLM."""

    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    """US dollars from litellm's price map or the user's per-token prices; None when no price is known."""
    latency_s: float = 0.0
    calls: int = 0
    """HTTP calls that returned an answer (retries of failed attempts are not counted)."""

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost is None and other.cost is None else (self.cost or 0.0) + (other.cost or 0.0)
        return Usage(tokens_in=self.tokens_in + other.tokens_in, tokens_out=self.tokens_out + other.tokens_out,
                     cost=cost, latency_s=round(self.latency_s + other.latency_s, 3), calls=self.calls + other.calls)


@dataclass(frozen=True, kw_only=True)
class Completion:
    """One raw answer from a designer, before extraction."""

    text: str
    designer: str
    """Who wrote it, e.g. "offline designer (evolutionary search, no LLM)" or an LLM model name."""
    parent: str | None = None
    """The candidate this one was derived from, when the designer says."""
    meta: dict[str, str | int | float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    """This completion's share of the call that produced it (a call with n choices is split evenly)."""


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A reward candidate: the code extracted from one completion."""

    id: str
    """``rRRcKK``: round and index within the round, both 1-based."""
    round: int
    index: int
    code: str | None
    """The extracted module; None when extraction failed."""
    origin: str
    parent: str | None = None
    attempts: int = 1
    """1 + the fix-retries it took (earlier attempts are kept in ``cand_KK/attempt_N/``)."""
    usage: Usage = field(default_factory=Usage)
    """LLM usage of all its attempts."""


@dataclass(frozen=True, kw_only=True)
class SeriesStat:
    """About ten samples of one quantity over training, with its max, mean and min (Eureka's reflection)."""

    name: str
    samples: tuple[float, ...]
    max: float
    mean: float
    min: float


FindingKind = Literal[
    "dominant", "constant", "fitness_zero", "reward_up_fitness_flat",
    # per-component diagnosis over training
    "saturated", "against_fitness", "improved_not_fitness",
    # reward-hacking detectors
    "component_up_fitness_down", "length_farming", "motionless", "oscillating", "action_chatter", "wrong_direction",
    # failure causes from the evaluation rollouts
    "early_termination", "goal_missed", "motion_missed",
    # the pre-training screen
    "screened_out",
]
FITNESS_FINDINGS: tuple[FindingKind, ...] = (
    "fitness_zero", "reward_up_fitness_flat", "against_fitness", "improved_not_fitness", "component_up_fitness_down",
    "length_farming", "screened_out",
)
"""Findings that quote the task fitness (hidden from designers in a preferences-only run)."""


@dataclass(frozen=True)
class Finding:
    """One machine-readable conclusion of the analyzer about a candidate's training or evaluation.

    Two findings are equal when their kind and component are; the evidence rides along.
    """

    kind: FindingKind
    component: str | None = None
    """The reward component (or, for failure causes and motion, the state field) it is about."""
    evidence: str = field(default="", compare=False)
    """What was measured, in the task's field names and units (one sentence, for people and designers)."""
    value: float | None = field(default=None, compare=False)
    """The finding's key number (a correlation, a share, a count), when it has one."""

    def __str__(self) -> str:
        return f"{self.kind}:{self.component}" if self.component else self.kind


@dataclass(frozen=True, kw_only=True)
class ComponentDiagnosis:
    """One reward component over training, against the task fitness."""

    name: str
    fitness_corr: float | None
    """Spearman correlation of the component's per-episode return with the fitness across checkpoints."""
    trend: float | None
    """Spearman correlation of its return with training time (+1: rose steadily)."""
    gain: float
    """Its mean return over the last half of training minus the first half."""
    saturated: bool
    """Stuck at one value over the last quarter of training after having moved before."""


@dataclass(frozen=True, kw_only=True)
class FieldAtEnd:
    """How one state field looked when terminated episodes ended, against the same episodes before."""

    name: str
    unit: str
    episodes: int
    """Terminated episodes in which it was out of its range (or far beyond its usual magnitude) at the end."""
    end_median: float
    usual_median: float
    """Median of the field's usual ``|value|`` (before the end) in those episodes."""
    out_of_range: bool
    ratio: float | None
    """``median |value at end| / usual |value|``, when the usual magnitude is not zero."""


@dataclass(frozen=True, kw_only=True)
class FailureReport:
    """How the held-out evaluation episodes ended, and what the state was when they did."""

    episodes: int
    terminated: int
    truncated: int
    median_end_step: float | None
    """Median length of the terminated episodes (None if none terminated)."""
    success_end: bool
    """The terminations reached the task's goal (a ``reach_*`` target), rather than failing."""
    causes: tuple[FieldAtEnd, ...] = ()
    worst_fitness: float | None = None
    best_fitness: float | None = None


ScreenStatus = Literal["pass", "skip", "no_data", "fault"]


@dataclass(frozen=True, kw_only=True)
class ScreenVerdict:
    """The pre-training screen (CARD-style): does a candidate rank earlier trajectories like the fitness does?"""

    candidate_id: str
    status: ScreenStatus
    """``skip``: its returns rank the stored trajectories against their fitness; do not train it."""
    spearman: float | None
    """Rank correlation of the candidate's episode returns with the trajectories' fitness."""
    threshold: float
    trajectories: int
    sources: int
    """How many earlier targets the trajectories came from."""
    reason: str
    wall_s: float = 0.0

    @property
    def skip(self) -> bool:
        return self.status == "skip"


@dataclass(frozen=True, kw_only=True)
class Critique:
    """What the trajectory analyzer concluded about one candidate."""

    candidate_id: str
    status: CandidateStatus
    text: str
    """Markdown, shown to people and designers (critique.md)."""
    components: tuple[SeriesStat, ...] = ()
    fitness: SeriesStat | None = None
    episode_length: SeriesStat | None = None
    shares: dict[str, float] = field(default_factory=dict)
    """Each component's share of the absolute reward return at the end of training."""
    flags: tuple[Finding, ...] = ()
    """Machine-readable findings, e.g. ``Finding("dominant", "speed")``, ``Finding("reward_up_fitness_flat")``."""
    diagnosis: tuple[ComponentDiagnosis, ...] = ()
    failure: FailureReport | None = None
    screen: ScreenVerdict | None = None
    subtasks: tuple[Subtask, ...] = ()
    """The task as checkable subtasks, as this candidate's designer stated them (or as the task reads)."""


@dataclass(frozen=True, kw_only=True)
class CandidateResult:
    """Everything known about one candidate after a round."""

    candidate: Candidate
    validation: ValidationReport
    training: TrainingResult | None = None
    evaluation: EvaluationResult | None = None
    critique: Critique | None = None
    screen: ScreenVerdict | None = None
    early_stop: EarlyStop | None = None
    """Successive halving stopped it after a rung: its results are partial (status ``stopped``)."""
    """The pre-training screen's verdict (round 2 on); ``skip`` means it was not trained."""

    @property
    def status(self) -> CandidateStatus:
        if not self.validation.accepted:
            return "rejected"
        if self.training is None:
            return "skipped" if self.skipped else "pending"
        if self.training.status != "ok":
            return self.training.status
        if self.early_stop is not None:
            return "stopped"
        return "ok" if self.evaluation is not None else "crashed"

    @property
    def skipped(self) -> bool:
        """The pre-training screen ruled it out, so it is not trained."""
        return self.screen is not None and self.screen.skip

    @property
    def fitness(self) -> float | None:
        """Selection fitness (mean over the selection seeds); None unless trained and evaluated."""
        return self.evaluation.selection.mean if self.evaluation is not None else None


@dataclass(frozen=True, kw_only=True)
class RoundFeedback:
    """What one round hands to the next: the selected candidate and the critique text for the prompt."""

    round: int
    best_id: str | None
    best_fitness: float | None
    summary: str
    """Markdown rendered into the next round's prompt."""
    source: Literal["automatic", "human"] = "automatic"
    human: HumanFeedback | None = None
    """The reviewer's feedback on this round (``--review``), as submitted."""

    @property
    def stop(self) -> bool:
        """The reviewer chose to stop the run and keep the best so far."""
        return self.human is not None and self.human.action == "stop"


@dataclass(frozen=True, kw_only=True)
class JaxModuleInfo:
    """``reward_jax.json``: what the JAX backend needs besides the candidate's exported module bytes."""

    components: tuple[str, ...]
    constants: dict[str, float]
    """Named constants lifted into the module's per-env ``params`` input, with the designer's values."""
    export_ms: float
    sandbox: str


@dataclass(frozen=True, kw_only=True)
class JobFailure:
    """How one job process of a target died, as the orchestrator saw it (``failures.json``)."""

    kind: Literal["train", "evaluate", "video"]
    status: Literal["timeout", "crashed"]
    detail: str
    wall_s: float
    reward_kind: RewardKind

    def as_training(self) -> TrainingResult:
        return TrainingResult(status=self.status, error=self.detail, reward_kind=self.reward_kind, steps_done=0,
                              steps_planned=0, wall_s=self.wall_s, components=(), checkpoints=(), policy=None)

    def as_video(self) -> VideoResult:
        return VideoResult.failed(self.status, self.detail, self.wall_s)


@dataclass(frozen=True, kw_only=True)
class BatchFailure:
    """``isolation.json``: the program that trained a batch of targets together failed (how, and which targets it
    held), so they are retrained apart to find the culprit (:mod:`agent.train.isolation`)."""

    keys: tuple[str, ...]
    failure: JobFailure


@dataclass(frozen=True)
class FailureLog:
    """``failures.json``: the job processes of one target that died, one entry per step kind."""

    jobs: tuple[JobFailure, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TargetOutcome:
    """What training, evaluation and the rollout video produced for one target (None: not run or lost)."""

    training: TrainingResult | None = None
    evaluation: EvaluationResult | None = None
    video: VideoResult | None = None
    early_stop: EarlyStop | None = None
    """Successive halving stopped it: the training and evaluation are those of a partial rung."""


@dataclass(frozen=True, kw_only=True)
class StopRecord:
    """``round_NN/stopped.json``: why the designer stopped the run in that round."""

    round: int
    kind: str
    """The exception class, e.g. ``BudgetExhausted``."""
    reason: str
    at: str


@dataclass(frozen=True, kw_only=True)
class BaselineScore:
    kind: Literal["human", "sparse"]
    status: str
    selection_fitness: float | None
    heldout_fitness: float | None
    heldout_std: float | None


@dataclass(frozen=True, kw_only=True)
class RoundSummary:
    round: int
    best_id: str | None
    best_fitness: float | None
    accepted: int
    trained: int
    candidates: int
    env_steps: int = 0
    """Env-steps trained by the round's candidates (every job in their ``costs.json``, halving rungs included)."""
    cpu_s: float = 0.0
    """CPU seconds of the round's candidates' jobs (training, evaluation, video), from ``costs.json``."""


@dataclass(frozen=True, kw_only=True)
class FinalArm:
    """One reward retrained on the final comparison's fresh training seeds (``agent.report.final``)."""

    arm: Literal["designed", "human", "sparse"]
    seeds: tuple[int, ...]
    status: tuple[str, ...]
    """Per seed: ``ok`` or how its training/evaluation ended."""
    heldout: tuple[float | None, ...]
    """Per seed: mean held-out fitness of the trained policy."""
    mean: float | None
    std: float | None
    """Standard deviation over training seeds (not over evaluation episodes)."""

    @property
    def values(self) -> list[float]:
        """The held-out fitness of every seed that produced one."""
        return [v for v in self.heldout if v is not None]


Verdict = Literal["better", "tied", "worse", "unknown"]


@dataclass(frozen=True, kw_only=True)
class BaselineVerdict:
    """The designed reward against one baseline over the final comparison's training seeds.

    The rule (:func:`agent.report.scores.verdict`): ``better`` or ``worse`` when the difference of the two
    means is larger than the two arms' standard deviations over seeds added up, ``tied`` otherwise;
    ``unknown`` when an arm has no trained seed.
    """

    baseline: Literal["human", "sparse"]
    verdict: Verdict
    difference: float | None
    """Mean held-out fitness of the designed reward minus the baseline's."""
    margin: float | None
    """What the difference had to beat: the two arms' standard deviations over seeds, added up."""


@dataclass(frozen=True, kw_only=True)
class FinalScore:
    """The headline numbers: the best reward (and the baselines) retrained on fresh training seeds."""

    seeds: tuple[int, ...]
    steps: int
    designed: FinalArm
    human: FinalArm | None
    sparse: FinalArm | None
    hns: float | None
    hns_std: float | None
    """Spread of the HNS over the training seeds of all three arms (bootstrap over each arm's seeds)."""
    hns_meaningful: bool
    """False when the baselines are not told apart by the training seeds (their difference is within their spread)
    or the env's own reward trained worse than the sparse one (the scale would be upside down)."""
    note: str
    verdicts: tuple[BaselineVerdict, ...] = ()
    """The designed reward against each baseline: better, tied or worse over the seeds."""
    fitness_doc: str = ""
    """What the fitness measures, in its own doc line (what a fitness of 1 means)."""


@dataclass(frozen=True, kw_only=True)
class RunCost:
    """What a run spent: environment steps, training time, CPU time, designer tokens and money."""

    env_steps: int
    """Environment steps trained, every candidate, baseline and final-comparison seed together."""
    train_s: float
    """Wall-clock seconds of all training jobs added up (each job is one process; the jax backend's one job per
    round is counted once)."""
    cpu_s: float | None
    """CPU seconds of the job processes this session waited for (``getrusage``; a resumed run counts its last session)."""
    job_cpu_s: float = 0.0
    """CPU seconds of every job of the run in every session: candidates, baselines, final seeds (``costs.json``)."""
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, kw_only=True)
class CriticTotals:
    """The run summary's line on the critic: candidates judged, frames sent, verdicts kept and dropped, tokens."""

    model: str
    judged: int
    failed: int
    frames: int
    kept: int
    dropped: int
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """The run's result, as written to ``summary.json``."""

    task: str
    designer: str
    sandbox: str
    finished: bool
    rounds: tuple[RoundSummary, ...]
    best_id: str | None
    best_reward_file: str | None
    best_selection_fitness: float | None
    best_heldout_fitness: float | None
    best_heldout_std: float | None
    baselines: tuple[BaselineScore, ...]
    hns: float | None
    """Human-normalized score of the best reward on held-out seeds (DESIGN.md); None when undefined."""
    hns_note: str
    wall_s: float
    usage: Usage = field(default_factory=Usage)
    """Every LLM call the run paid for (from the response store), resumed sessions included."""
    stopped: str | None = None
    """Why the run stopped before its last round (budget cap, designer unreachable); None otherwise."""
    final: FinalScore | None = None
    """The best reward retrained on fresh seeds (``--final-seeds``); None when skipped or not run."""
    hns_meaningful: bool = True
    """False when the two baselines are within each other's spread: then ``hns`` is not a score to quote."""
    cost: RunCost | None = None
    critic: CriticTotals | None = None
    """What the vision-language critic (``--critic``) judged and cost; None without one."""
