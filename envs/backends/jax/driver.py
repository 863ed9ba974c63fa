"""The host's side of a JAX round: :func:`train_round` compiles the round's program and calls it until the budget is spent.

Between the compiled calls (:class:`~envs.backends.jax.program.Program`, ``rollouts_per_call`` PPO
iterations each) it records each arm's curve (:mod:`envs.backends.jax.ledger`), lets the allocation stop
arms (:mod:`envs.backends.allocation`) — a stopped arm keeps its policy and leaves the program, which is
shrunk and recompiled, or frozen in place, by a measured rule — saves the round's state after every call
(:mod:`envs.backends.jax.segments`: a rerun of the job continues there), reports progress and stops at the
time limit. Compile time is measured apart from run time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np

from rewardsmith.envs.backends.allocation import Allocation, Allocator
from rewardsmith.envs.backends.jax.arms import Arm, ArmResult, RoundConfig, RoundResult
from rewardsmith.envs.backends.jax.envs import JaxEnv
from rewardsmith.envs.backends.jax.episodes import SAMPLE_ENVS, HostFitness, Scorer
from rewardsmith.envs.backends.jax.ledger import ArmEnd, Ledger, Left
from rewardsmith.envs.backends.jax.metrics import jax_metric
from rewardsmith.envs.backends.jax.policy import flatten_params
from rewardsmith.envs.backends.jax.program import Carry, Iteration, Program
from rewardsmith.envs.backends.jax.segments import SegmentFile

__all__ = ["Arm", "ArmResult", "RoundConfig", "RoundResult", "train_round"]


def _divisor_at_most(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def train_round(env: JaxEnv, arms: Sequence[Arm], config: RoundConfig, fitness_ref: str,
                progress: Callable[[int, int], None] | None = None, timeout_s: float | None = None,
                scorer: Scorer | None = None, allocation: Allocation | None = None,
                segments: SegmentFile | None = None) -> RoundResult:
    """Train every arm for ``config.steps`` env-steps in one compiled program and return their results.

    Args:
        env: the task's JAX environment.
        arms: the rewards to train, each on its own ``config.n_envs`` envs with its own policy.
        config: budget and PPO settings (the same for every arm).
        fitness_ref: the task's fitness metric name (a built-in one is logged over training and is
            what the sparse arm is paid, in the program).
        progress: called after each compiled call with (env-steps done per arm, planned).
        timeout_s: wall-clock bound on training (compile included); past it no further call is made and
            every arm still training ends with status ``"timeout"`` (its policy so far is kept).
        scorer: the task's fitness function over a batch of episodes, for a ``fitness_ref`` that is not a
            built-in metric (in a run: :class:`~envs.backends.jax.scoring.FitnessChild`). A sparse arm is paid
            its value at each episode end; the training episodes of
            :data:`~envs.backends.jax.episodes.SAMPLE_ENVS` envs of every other arm are scored with it for
            the checkpoints' fitness. Without it a sparse arm needs a built-in metric.
        allocation: spread the budget over the candidate arms (:mod:`envs.backends.allocation`): after each
            compiled call the policy reads their curves and may stop some; a stopped arm keeps the policy it had
            and leaves the program (:attr:`RoundConfig.shrink`). None: every arm trains the full budget.
        segments: where the round's state is saved after each compiled call; a round that finds its own saved
            state there continues from it (:mod:`envs.backends.jax.segments`).
    """
    return _Round(env, arms, config, fitness_ref, scorer, allocation, segments).run(progress, timeout_s)


class _Round:
    """The host's side of a round: the compiled calls, the allocation's decisions between them, the saved segments."""

    def __init__(self, env: JaxEnv, arms: Sequence[Arm], config: RoundConfig, fitness_ref: str, scorer: Scorer | None,
                 allocation: Allocation | None, segments: SegmentFile | None) -> None:
        self.started = time.perf_counter()
        self.env, self.arms, self.config, self.fitness_ref = env, tuple(arms), config, fitness_ref
        self.host = HostFitness(scorer) if scorer is not None and jax_metric(fitness_ref) is None else None
        self.segments = segments
        self.rollout_steps = config.ppo.n_steps * config.n_envs
        self.n_rollouts = max(1, math.ceil(config.steps / self.rollout_steps))
        self.candidates = {a.name: i for i, a in enumerate(self.arms) if a.kind == "candidate"}
        self.allocator = (Allocator(allocation, tuple(self.candidates), self.n_rollouts * self.rollout_steps,
                                    self.rollout_steps) if allocation is not None and len(self.candidates) > 1 else None)
        cuts = [b // self.rollout_steps for b in self.allocator.budgets[:-1]] if self.allocator is not None else []
        # A call never crosses a rung's end; the bandit checks its arms after every rollout.
        cap = 1 if allocation is not None and allocation.policy == "bandit" else config.rollouts_per_call
        self.per_call = _divisor_at_most(math.gcd(self.n_rollouts, *cuts), cap)
        self.members = tuple(range(len(self.arms)))
        self.program = self._build(self.members)
        self.ledger = Ledger(self.arms, self.program.components, self.n_rollouts, self.rollout_steps)
        self.compile_s, self.compiles, self.call_s = 0.0, 0, 0.0
        self.program_compile_s = 0.0
        """The current program's compile time (what shrinking it again would cost, about)."""

    def _build(self, members: tuple[int, ...]) -> Program:
        return Program(self.env, [self.arms[i] for i in members], self.config, self.fitness_ref,
                        SAMPLE_ENVS if self.host is not None else 0, self.host.sparse if self.host is not None else None)

    def _compile(self, carry: Carry) -> Callable[[Carry], tuple[Carry, Iteration]]:
        t0 = time.perf_counter()
        compiled = jax.jit(self.program.chunk, static_argnums=1).lower(carry, self.per_call).compile()
        self.compile_s += time.perf_counter() - t0
        self.compiles += 1
        self.program_compile_s = time.perf_counter() - t0
        return compiled

    def _start(self) -> Carry:
        """The first carry: fresh, or the last saved segment's state (the same job, killed mid-round)."""
        t0 = time.perf_counter()
        saved = self.segments.load() if self.segments is not None else None
        if saved is not None and saved.members and set(saved.members) <= set(self.members):
            program = self._build(saved.members) if saved.members != self.members else self.program
            carry = saved.into(jax.jit(program.init)())
            if carry is not None and self._fits(saved.ledger_arrays):
                self.program, self.members = program, saved.members
                self.ledger.restore(saved.ledger_arrays, saved.ledger_meta)
                if self.allocator is not None and saved.allocation is not None:
                    self.allocator.state = saved.allocation
                self.compile_s += time.perf_counter() - t0
                return carry
        carry = jax.jit(self.program.init)()  # one small compile; run op by op it compiles each op (seconds at K=16)
        self.compile_s += time.perf_counter() - t0
        return carry

    def _fits(self, arrays: dict[str, np.ndarray]) -> bool:
        ours = self.ledger.arrays()
        return all(k in arrays and arrays[k].shape == v.shape for k, v in ours.items() if not k.startswith("left/"))

    def run(self, progress: Callable[[int, int], None] | None, timeout_s: float | None) -> RoundResult:
        carry = self._start()
        compiled = self._compile(carry)
        loop_t0, compiled_before, done_here = time.perf_counter(), self.compile_s, 0
        ledger = self.ledger
        while ledger.done < self.n_rollouts:
            if timeout_s is not None and time.perf_counter() - self.started > timeout_s:
                break
            t0 = time.perf_counter()
            carry, out = compiled(carry)
            out = jax.device_get(out)
            self.call_s = time.perf_counter() - t0
            scored = None
            if self.host is not None:  # a fitness failure in the sparse arms' callback is raised here, the curves scored
                sums, counts = self.host.after_call(out.sampled)
                scored = (self.program.sampled_arms, sums, counts)
            ledger.record(out.window, np.asarray(out.alive), out.ppo, self.members, scored)
            done_here += 1
            steps = ledger.done * self.rollout_steps
            if self.allocator is not None and self.allocator.due(steps):
                carry, compiled = self._decide(carry, compiled, steps)
            if self.segments is not None:
                self.segments.save(carry, ledger, self.members,
                                   self.allocator.state if self.allocator is not None else None)
            if progress is not None:
                progress(steps, self.config.steps)
        jax.block_until_ready(carry)
        run_s = time.perf_counter() - loop_t0 - (self.compile_s - compiled_before)  # a shrink's compile is not training
        if not done_here and not ledger.done:
            raise TimeoutError(f"the round's program compiled in {self.compile_s:.0f} s, past the {timeout_s} s bound")
        return self._result(jax.device_get(carry), run_s, timeout_s)

    def _decide(self, carry: Carry, compiled: Callable[[Carry], tuple[Carry, Iteration]], steps: int
                ) -> tuple[Carry, Callable[[Carry], tuple[Carry, Iteration]]]:
        """The allocation's decision after ``steps`` env-steps per arm: stopped arms leave (their state kept)."""
        assert self.allocator is not None
        ledger, members = self.ledger, self.members
        alive = np.asarray(jax.device_get(carry.alive))
        frozen = [n for n, i in self.candidates.items() if i in members and i not in ledger.left
                  and not alive[members.index(i)]]  # NaN froze it: it leaves as "nan", not as stopped
        curves = {n: ledger.curve(self.candidates[n]) for n in self.allocator.alive}
        decision = self.allocator.decide(steps, curves, failed=frozen)
        if not decision.stopped:
            return carry, compiled
        host = jax.device_get((carry.params, carry.nonfinite, carry.died_at, carry.alive))
        positions = [members.index(self.candidates[n]) for n in decision.stopped]
        for name, p in zip(decision.stopped, positions, strict=True):
            params = flatten_params(jax.tree.map(lambda x, p=p: np.asarray(x[p]), host[0]))
            ledger.leave(self.candidates[name], Left(params, int(host[1][p]), int(host[2][p]), bool(host[3][p]), steps))
        keep = tuple(i for i in members if i not in ledger.left)
        if not self._shrinks(len(keep), steps):
            return carry._replace(alive=carry.alive.at[np.asarray(positions)].set(False)), compiled  # frozen in place
        old = self.program
        rows = [members.index(i) for i in keep]
        self.program, self.members = self._build(keep), keep
        carry = jax.jit(lambda c: self.program.take(old, c, rows))(carry)
        if self.host is not None:
            self.host.keep([old.sampled_arms.index(r) for r in rows if r in old.sampled_arms])
        return carry, self._compile(carry)

    def _shrinks(self, keep: int, steps: int) -> bool:
        """Whether to recompile the program for the ``keep`` arms left (:attr:`RoundConfig.shrink`)."""
        mode, width = self.config.shrink, len(self.members)
        if mode != "auto":
            return mode == "always"
        calls_left = (self.n_rollouts * self.rollout_steps - steps) / (self.per_call * self.rollout_steps)
        # A call's time grows about linearly with the arms in the program; a compile's has a fixed part too
        # (measured on 2 cores, K=16 -> 4 -> 1: CartPole 30, ~15, ~10 s; docs/benchmarks.md, issue 22).
        # Recompile when the time it saves over the calls left beats the compile.
        saved = calls_left * self.call_s * (1 - keep / width)
        return saved > self.program_compile_s * (0.3 + 0.7 * keep / width)

    def _result(self, carry: Carry, run_s: float, timeout_s: float | None) -> RoundResult:
        ledger = self.ledger
        ends = {i: ArmEnd(params=flatten_params(jax.tree.map(lambda x, p=p: np.asarray(x[p]), carry.params)),
                          nonfinite=int(carry.nonfinite[p]), died_at=int(carry.died_at[p]), alive=bool(carry.alive[p]))
                for p, i in enumerate(self.members) if i not in ledger.left}
        results = ledger.results(ends, self.n_rollouts, timeout_s)
        return RoundResult(tuple(results), self.compile_s, run_s, ledger.done * self.rollout_steps, self.config.n_envs,
                           jax.devices()[0].platform, env_steps=int(ledger.stepped.sum()) * self.rollout_steps,
                           allocation=self.allocator.record if self.allocator is not None else None,
                           compiles=self.compiles)
