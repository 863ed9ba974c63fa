"""The vision-language critic (``--critic MODEL``, issue 25): a model watches a candidate's rollout and judges subtasks.

Programmatic checks catch what a fitness measures; a video catches what nobody wrote a fitness for ("it hops, but
on its knee"), as in RDA (arXiv 2606.01672), GROVE and RE-GoT. For each trained candidate with a video:

1. **frames**: at most ``--critic-frames`` frames of the video's episode, picked around its key moments — the
   start, the end (terminated or cut at the time limit), and for each checked subtask the step its field reaches
   its target, peaks, leaves its range or where the second half starts — then evenly spaced ones; each is shrunk
   to :data:`FRAME_SIDE` pixels and sent as a JPEG (kept as ``critic/frame_NN.jpg``);
2. **the call**: the subtasks and the frames go to the model through the designer's client
   (:class:`~agent.design.llm.client.LLMClient`: whole-call timeout, transient retries, the answer stored before it
   is used, so a resumed run never pays twice), into a response store of its own (``critic_responses/``) whose
   total ``--critic-max-tokens`` caps;
3. **the verdicts**: the answer is parsed into one :class:`~agent.records.critic.Verdict` per subtask (done,
   partly or not, the frame it points at, a short reason); an answer that is not JSON, names unknown subtasks or
   frames, or is huge, is handled as data: what cannot be used is noted, never raised;
4. **the gate** (:mod:`agent.analyze.critic_gate`): a verdict the recorded state of that episode contradicts is
   dropped and the contradiction kept.

A critic that cannot be reached, times out or runs out of tokens never stalls a round: its report says why
(``status`` ``failed`` or ``skipped``), the critique says the round went on without it, and after one failed call
the round's other candidates are not sent (:attr:`Critic.down`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from rewardsmith.agent.analyze import critic_gate
from rewardsmith.agent.design.llm.client import CallFailed, LLMClient, RetryPolicy
from rewardsmith.agent.design.llm.responses import ResponseStore
from rewardsmith.agent.design.prompting import ImagePart, Message, render
from rewardsmith.agent.records.config import RunConfig
from rewardsmith.agent.records.critic import CriticFrame, CriticReport, Verdict, VerdictLabel
from rewardsmith.agent.records.results import CandidateResult, CriticTotals, Usage
from rewardsmith.agent.records.subtasks import StateCheck, Subtask
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.errors import DesignerError
from rewardsmith.core.state import StateField, StateSpec
from rewardsmith.core.text import printable
from rewardsmith.envs.outcomes import EpisodeOutcome, Rollout
from rewardsmith.envs.tasks import Task
from rewardsmith.envs.video import VideoJob, VideoResult, read_frames

FRAME_SIDE = 384
"""Longest side of a frame sent, in pixels: enough to see a pose, and a bounded number of image tokens."""
JPEG_QUALITY = 80
RESPONSE_TOKENS = 800
"""Most tokens one critic answer may have (one short verdict per subtask fits many times over)."""
MAX_REASON = 200
"""Characters of a verdict's reason kept (it reaches the next prompt)."""
MAX_ITEMS = 50
"""Verdict items read from one answer at most; the rest are ignored (a hostile answer may list thousands)."""
RETRY = RetryPolicy(max_attempts=2, backoff_s=1.0, backoff_cap_s=5.0, concurrency=1)
"""One retry on a transient error: a slow critic costs a candidate at most two timeouts, and the round one failure."""
_WORDS: dict[str, VerdictLabel] = {"done": "done", "yes": "done", "complete": "done", "completed": "done",
                                   "partly": "partly", "partial": "partly", "partially": "partly",
                                   "not": "not", "no": "not", "not done": "not", "failed": "not"}


@dataclass
class Critic:
    """The run's critic: its client, its bound on frames, and whether it is down for the rest of the round."""

    client: LLMClient
    frames: int
    down: str | None = None
    """Why the critic is not called again this round (its last call failed, or its token cap is reached)."""

    @classmethod
    def for_run(cls, cfg: RunConfig, store: RunStore) -> Critic | None:
        """The critic ``--critic`` asks for (None without one); its calls use ``--api-base`` and ``--critic-timeout``."""
        if cfg.critic is None:
            return None
        options = replace(cfg.llm, timeout_s=cfg.critic_timeout_s, temperature=0.0, response_tokens=RESPONSE_TOKENS,
                          max_tokens=cfg.critic_max_tokens)
        client = LLMClient(cfg.critic, options, ResponseStore.critic_for_run(store.root), RETRY,
                           cost_with=(ResponseStore.for_run(store.root),))  # one --max-cost for designer and critic
        return cls(client=client, frames=cfg.critic_frames)

    @property
    def model(self) -> str:
        return self.client.model

    def ask(self, messages: tuple[Message, ...], salt: str) -> tuple[str | None, Usage, str | None]:
        """(the answer's text, its usage, None) or (None, no usage, why there is none: one line)."""
        try:
            reply = self.client.complete(messages, salt)
        except (CallFailed, DesignerError) as exc:  # BudgetExhausted is a DesignerError: the cap is reached
            self.down = _critic_words(str(exc.message if isinstance(exc, CallFailed) else exc))
            return None, Usage(), self.down
        if reply is None:
            return None, Usage(), f"critic {self.model}: the model answered with no choice"
        return reply.text, reply.usage, None


def _critic_words(message: str) -> str:
    """The client words its errors for the designer; these are the critic's."""
    line = " ".join(message.split())
    return "critic " + line[len("designer "):] if line.startswith("designer ") else line


# -- one candidate ---------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Episode:
    """The video's episode: its seed, recorded state (by field) and how it ended."""

    seed: int
    states: dict[str, np.ndarray]
    steps: int
    ended: str


def judge(critic: Critic, result: CandidateResult, store: RunStore, task: Task, goal: StateSpec,
          subtasks: tuple[Subtask, ...], seed: int) -> CriticReport:
    """The critic's report on one candidate (stored in ``critic.json``); a stored ``ok`` one is never asked again.

    ``goal``: the task's fields as its goal reads them (ranges for the gate); ``seed``: the episode the video shows.
    """
    cand = result.candidate
    stored = store.load_critic(cand)
    if stored is not None and stored.status == "ok":
        return stored
    base = CriticReport(candidate_id=cand.id, model=critic.model, status="skipped", subtasks=subtasks, seed=seed)
    outcome = store.outcome(store.files_of(cand))
    outcomes = result.evaluation.episodes if result.evaluation is not None else ()
    episode, why = _episode(store.load_rollouts(store.files_of(cand)), outcomes, task.adapter.spec, seed,
                            outcome.video)
    if episode is None or outcome.video is None:
        return _saved(store, result, replace(base, error=why))
    if critic.down is not None:
        return _saved(store, result, replace(base, error=f"not asked: {critic.down}"))
    frames = pick_frames(episode, goal, subtasks, critic.frames, outcome.video.frames)
    images = read_frames(store.files_of(cand).video, [f.video_frame for f in frames])
    parts: list[ImagePart] = []
    sent: list[CriticFrame] = []
    size = 0
    for f in frames:
        if f.video_frame not in images:
            continue
        data = jpeg(images[f.video_frame])
        path = store.save_critic_frame(cand, len(sent), data)
        sent.append(replace(f, index=len(sent), file=str(path.relative_to(store.files_of(cand).dir))))
        parts.append(ImagePart(file=str(path), sha256=hashlib.sha256(data).hexdigest()))
        size += len(data)
    if not sent:
        return _saved(store, result, replace(base, status="failed", error="no frame could be read from video.mp4"))
    text = render("critic.j2", description=task.description, env_id=task.env_id, frames=sent, seed=seed,
                  steps=episode.steps, ending=episode.ended, subtasks=subtasks)
    messages = (Message("system", render("critic_system.j2")), Message("user", text, images=tuple(parts)))
    answer, usage, error = critic.ask(messages, salt=f"critic/{cand.id}/seed {seed}")
    report = replace(base, frames=tuple(sent), image_bytes=size, usage=usage)
    if answer is None:
        return _saved(store, result, replace(report, status="failed", error=error))
    verdicts, notes, problem = parse_verdicts(answer, subtasks, len(sent))
    if problem is not None:
        return _saved(store, result, replace(report, status="failed", error=problem, notes=notes))
    kept, dropped = critic_gate.gate(verdicts, subtasks, episode.states, {f.name: f for f in goal.fields}, sent)
    return _saved(store, result, replace(report, status="ok", kept=kept, dropped=dropped, notes=notes))


def _saved(store: RunStore, result: CandidateResult, report: CriticReport) -> CriticReport:
    store.save_critic(result.candidate, report)
    return report


def _episode(rollouts: Sequence[Rollout], outcomes: Sequence[EpisodeOutcome], spec: StateSpec, seed: int,
             video: VideoResult | None) -> tuple[Episode | None, str]:
    """The recorded episode the video shows, or why there is none to judge."""
    if video is None or video.status != "ok":
        return None, f"no video ({video.status}: {video.error})" if video is not None else "no video was recorded"
    if video.episodes != 1:
        return None, f"the video shows {video.episodes} episodes; the critic reads a video of one"
    rollout = next((r for r in rollouts if r.seed == seed), None)
    if rollout is None:
        return None, f"no recorded episode of seed {seed} (rollouts.npz) to check the verdicts against"
    steps, shown = len(rollout.states), video.frames - 1
    if not (shown == steps or (shown < steps and shown == VIDEO_STEPS)):
        return None, (f"the video's {video.frames} frames do not match the recorded episode's {steps} steps: "
                      "the frames cannot be tied to the state")
    states = spec.unpack(np.asarray(rollout.states, dtype=np.float64)).as_dict()
    how = next((o for o in outcomes if o.seed == seed), None)
    ended = ("was ended by the environment" if how is not None and how.terminated
             else "ran to the time limit" if how is not None and how.truncated else "ended")
    if shown < steps:
        ended += f" (the video shows its first {shown} steps)"
    return Episode(seed=seed, states=states, steps=steps, ended=ended), ""


VIDEO_STEPS = next(f.default for f in fields(VideoJob) if f.name == "max_steps")
"""Steps a video shows at most (:attr:`envs.video.VideoJob.max_steps`): a longer episode's video is cut there."""


# -- frames around the key moments -----------------------------------------------------------------
def pick_frames(episode: Episode, goal: StateSpec, subtasks: Sequence[Subtask], limit: int,
                video_frames: int) -> list[CriticFrame]:
    """At most ``limit`` frames: the start, the end, the checked subtasks' moments, then evenly spaced fill.

    Frame ``t`` of the video shows the state after ``t`` steps (frame 0: the reset), so the gate reads row ``t - 1``.
    """
    last = min(episode.steps, max(0, video_frames - 1))
    moments: list[tuple[int, str]] = [(last, "end of the episode"), (0, "start")]
    fields = {f.name: f for f in goal.fields}
    for s in subtasks:
        if s.check is not None and s.check.field in episode.states and s.check.field in fields:
            moments += _moments(s.check, episode.states[s.check.field][:last], fields[s.check.field], s.id)
    if limit > 2:
        moments += [(round(float(t)), "evenly spaced") for t in np.linspace(0, last, limit)[1:-1]]
    chosen: dict[int, str] = {}
    for step, why in moments:
        if len(chosen) >= limit:
            break
        step = min(max(step, 0), last)
        if step not in chosen:
            chosen[step] = why
    return [CriticFrame(index=i, video_frame=step, step=step, why=chosen[step], file="")
            for i, step in enumerate(sorted(chosen))]


def _moments(check: StateCheck, values: np.ndarray, f: StateField, sid: int) -> list[tuple[int, str]]:
    """The steps (1-based: the frame after that step) where a subtask's field shows its outcome."""
    if len(values) == 0:
        return []
    v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)[:, 0]
    if check.kind == "move":
        peak = int(np.argmax(check.sign * v)) + 1
        return [(peak, f"subtask {sid}: furthest {check.field} the asked way")]
    gap = np.abs(v - check.around) if check.around is not None else v
    ok = gap >= check.threshold if check.op == ">=" else gap <= check.threshold
    if check.when == "some":
        if ok.any():
            return [(int(np.argmax(ok)) + 1, f"subtask {sid}: {check.field} first meets its target")]
        best = int(np.argmax(gap) if check.op == ">=" else np.argmin(gap)) + 1
        return [(best, f"subtask {sid}: {check.field} closest to its target")]
    if check.when == "every" and not ok.all():
        return [(int(np.argmin(ok)) + 1, f"subtask {sid}: {check.field} leaves its range")]
    if check.when == "second_half":
        return [(len(v) // 2 + 1, f"subtask {sid}: the second half starts")]
    return []


def jpeg(frame: np.ndarray, side: int = FRAME_SIDE, quality: int = JPEG_QUALITY) -> bytes:
    """``frame`` (H, W, 3) uint8 shrunk to at most ``side`` pixels on its longest side, as JPEG bytes."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame[:, :, :3]).astype(np.uint8))
    image.thumbnail((side, side))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality, optimize=False)
    return buf.getvalue()


# -- the answer ------------------------------------------------------------------------------------
_FENCED_JSON = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


def parse_verdicts(text: str, subtasks: Sequence[Subtask], frames: int
                   ) -> tuple[tuple[Verdict, ...], tuple[str, ...], str | None]:
    """(verdicts, notes on what was set aside, None) or ((), notes, the one-line reason none could be read)."""
    data = _json_of(text)
    items = data.get("verdicts") if isinstance(data, dict) else data
    if not isinstance(items, list):
        head = printable(" ".join(text.split()), 80)
        return (), (), f"the critic's answer is not the JSON object asked for (it begins: {head!r})"
    ids = {s.id for s in subtasks}
    out: dict[int, Verdict] = {}
    notes: list[str] = []
    if len(items) > MAX_ITEMS:
        notes.append(f"{len(items)} verdict items: only the first {MAX_ITEMS} were read")
    for n, item in enumerate(items[:MAX_ITEMS], start=1):
        verdict, note = _verdict(item, ids, frames)
        if note:
            notes.append(f"item {n}: {note}")
        if verdict is None:
            continue
        if verdict.subtask in out:
            notes.append(f"item {n}: a second verdict on subtask {verdict.subtask} (the first was kept)")
            continue
        out[verdict.subtask] = verdict
    missing = sorted(ids - set(out))
    if missing:
        notes.append("no verdict on subtask " + ", ".join(map(str, missing)))
    if not out:
        return (), tuple(notes), "the critic's answer held no usable verdict" + (f" ({notes[0]})" if notes else "")
    return tuple(out[k] for k in sorted(out)), tuple(notes), None


def _json_of(text: str) -> Any:
    """The first JSON value of ``text``: in a fenced block, or from its first ``{`` (or ``[``)."""
    candidates = [m.group(1) for m in _FENCED_JSON.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for chunk in candidates:
        for opener in ("{", "["):
            start = chunk.find(opener)
            if start < 0:
                continue
            try:
                return decoder.raw_decode(chunk[start:])[0]
            except ValueError:
                continue
    return None


def _verdict(item: object, ids: set[int], frames: int) -> tuple[Verdict | None, str | None]:
    if not isinstance(item, dict):
        return None, "not an object"
    sid = item.get("subtask")
    if isinstance(sid, str) and sid.strip().isdigit():
        sid = int(sid.strip())
    if not isinstance(sid, int) or isinstance(sid, bool) or sid not in ids:
        return None, f"no subtask {printable(str(sid), 20)!r} (there are {len(ids)})"
    word = _WORDS.get(" ".join(str(item.get("verdict", "")).lower().split()))
    if word is None:
        return None, f"subtask {sid}: verdict {printable(str(item.get('verdict')), 20)!r} is not done, partly or not"
    frame = item.get("frame")
    note = None
    if frame is not None and (not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < frames):
        note = f"subtask {sid}: frame {printable(str(frame), 20)!r} was not sent (there were {frames}); left out"
        frame = None
    reason = " ".join(printable(str(item.get("reason", "")), 4 * MAX_REASON).split()).replace("`", "'")
    cut = reason[:MAX_REASON] + ("…" if len(reason) > MAX_REASON else "")
    return Verdict(subtask=sid, verdict=word, frame=frame, reason=cut), note


# -- the round and the run ---------------------------------------------------------------------------
def watched(result: CandidateResult) -> bool:
    """Whether the critic has something to watch: a trained and evaluated policy."""
    return result.training is not None and result.evaluation is not None


def report_line(report: CriticReport) -> str:
    """One line for the progress view: what the critic judged and cost, or why the round goes on without it."""
    if report.status != "ok":
        return f"critic: none ({report.error}); the round goes on without it"
    dropped = f", {len(report.dropped)} dropped (contradicted by the recorded state)" if report.dropped else ""
    return (f"critic: {len(report.kept)} verdicts kept{dropped}; {len(report.frames)} frames, "
            f"{report.usage.tokens_in:,} tokens in + {report.usage.tokens_out:,} out")


def totals(store: RunStore, cfg: RunConfig, history: Sequence[CandidateResult]) -> CriticTotals | None:
    """The summary's line on the critic (None without ``--critic``): its candidates' reports and its tokens."""
    if cfg.critic is None:
        return None
    reports = [r for r in (store.load_critic(h.candidate) for h in history) if r is not None]
    return CriticTotals(model=cfg.critic, judged=sum(r.status == "ok" for r in reports),
                        failed=sum(r.status != "ok" for r in reports), frames=sum(len(r.frames) for r in reports),
                        kept=sum(len(r.kept) for r in reports), dropped=sum(len(r.dropped) for r in reports),
                        usage=ResponseStore.critic_for_run(store.root).total())

