"""What the host keeps of a JAX round between the program's calls, and each arm's result from it.

The compiled program (:mod:`envs.backends.jax.program`) reports, per call, one :class:`Window` of sums per
rollout for each arm *in the program*; an allocation may shrink the program to the arms it keeps, so
positions in the program change while an arm's place in the round does not. The :class:`Ledger` holds
every arm's rollouts at its place in the round (so its curve, its checkpoints and its PPO statistics
survive a shrink and a resume), and each stopped arm's state as it left (:class:`Left`: its policy, its
NaN counters). :meth:`Ledger.results` turns it into the round's :class:`ArmResult` records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardsmith.envs.backends.allocation import Point
from rewardsmith.envs.backends.jax.arms import Arm, ArmResult, ArmStatus, Window
from rewardsmith.envs.backends.records import Checkpoint


@dataclass(frozen=True)
class ArmEnd:
    """An arm's state at the end of its training, taken from the program's carry."""

    params: dict[str, np.ndarray]
    """Its policy (flat named arrays, :func:`envs.backends.jax.policy.flatten_params`)."""
    nonfinite: int
    died_at: int
    alive: bool
    """Not frozen by NaN/inf."""


@dataclass(frozen=True)
class Left(ArmEnd):
    """An arm's state when the allocation stopped it, before it left the program (a NaN-frozen arm is never
    stopped: it has no curve left to judge)."""

    steps: int
    """Env-steps it had trained."""


class Ledger:
    """Every arm's per-rollout sums at its place in the round: ``(rollouts, K, ...)`` arrays, filled call by call."""

    def __init__(self, arms: Sequence[Arm], components: Sequence[tuple[str, ...]], n_rollouts: int,
                 rollout_steps: int) -> None:
        self.arms, self.components = tuple(arms), tuple(components)
        self.rollout_steps = rollout_steps
        k, c = len(arms), max(len(names) for names in components)
        zeros = lambda *shape: np.zeros((n_rollouts, k, *shape))  # noqa: E731
        self.window = Window(episodes=zeros(), length=zeros(), env_ret=zeros(), total_ret=zeros(), fit=zeros(),
                             fit_n=zeros(), comp_step=zeros(c), comp_ret=zeros(c))
        self.loss: dict[str, np.ndarray] = {}
        """PPO's statistics per rollout and arm, ``(rollouts, K)``."""
        self.alive = np.zeros((n_rollouts, k), bool)
        """An arm trained in the rollout and was not frozen by NaN/inf at its end."""
        self.stepped = np.zeros(k, np.int64)
        """Rollouts each arm's slot ran in the program (a frozen arm's included)."""
        self.done = 0
        """Rollouts every arm still in has trained."""
        self.left: dict[int, Left] = {}
        """The arms the allocation stopped, by their place in the round."""
        self.resumed_at = 0
        """Rollouts done when this process took the round over (0: it started it)."""

    # -- one compiled call ----------------------------------------------------------------------------------
    def record(self, window: Window, alive: np.ndarray, ppo: Mapping[str, np.ndarray], members: Sequence[int],
               scored: tuple[Sequence[int], np.ndarray, np.ndarray] | None = None) -> None:
        """One call's reports (leaves ``(R, K_program, ...)``) for the arms at ``members`` (the program's order).

        ``scored``: the host's fitness of some arms' episodes (their program positions, sums and counts ``(R, A)``),
        which replace the program's own for those arms."""
        r = len(alive)
        rows = slice(self.done, self.done + r)
        self.stepped[list(members)] += r
        pos = [p for p, i in enumerate(members) if i not in self.left]  # an arm frozen after its stop: ignored
        cols = [members[p] for p in pos]
        for name, ours in zip(Window._fields, self.window, strict=True):
            theirs = np.asarray(getattr(window, name))
            if theirs.ndim == 3:
                ours[rows, cols, : theirs.shape[2]] = theirs[:, pos]
            else:
                ours[rows, cols] = theirs[:, pos]
        if scored is not None:
            where, sums, counts = scored
            at = {p: j for j, p in enumerate(where)}
            keep = [(members[p], at[p]) for p in pos if p in at]
            if keep:
                self.window.fit[rows, [i for i, _ in keep]] = sums[:, [j for _, j in keep]]
                self.window.fit_n[rows, [i for i, _ in keep]] = counts[:, [j for _, j in keep]]
        for name, values in ppo.items():
            table = self.loss.setdefault(name, np.zeros(self.alive.shape))
            table[rows, cols] = np.asarray(values)[:, pos]
        self.alive[rows, cols] = np.asarray(alive)[:, pos]
        self.done += r

    def leave(self, arm: int, left: Left) -> None:
        self.left[arm] = left

    # -- what the allocation reads ----------------------------------------------------------------------------
    def curve(self, arm: int) -> tuple[Point, ...]:
        """The arm's fitness per rollout it trained (rollouts where no episode ended are left out)."""
        fit, count = self.window.fit[: self.trained(arm), arm], self.window.fit_n[: self.trained(arm), arm]
        return tuple(Point(steps=(r + 1) * self.rollout_steps, fitness=float(fit[r] / count[r]), episodes=int(count[r]))
                     for r in range(len(fit)) if count[r] > 0)

    def trained(self, arm: int) -> int:
        """Rollouts the arm trained without being frozen (to its stop, its NaN freeze, or every one done)."""
        return int(np.sum(np.cumprod(self.alive[: self.done, arm])))

    # -- the round's results ----------------------------------------------------------------------------------
    def results(self, ends: Mapping[int, ArmEnd], n_rollouts: int, timeout_s: float | None) -> list[ArmResult]:
        """Each arm's :class:`ArmResult`; ``ends``: the counters of the arms still in the program at the end."""
        timed_out = self.done < n_rollouts
        out = []
        for i, arm in enumerate(self.arms):
            left = self.left.get(i)
            end = left if left is not None else ends[i]
            trained = self.trained(i)
            status: ArmStatus = "nan" if not end.alive else "timeout" if timed_out and left is None else "ok"
            error = {"nan": f"the reward (or the policy it trained) went NaN or infinite at step {end.died_at}; "
                            "this arm was frozen there, the others trained on",
                     "timeout": f"training stopped at the {timeout_s} s bound after {self.done * self.rollout_steps} "
                                f"of {n_rollouts * self.rollout_steps} steps", "ok": None}[status]
            steps = end.died_at if not end.alive else left.steps if left is not None else self.done * self.rollout_steps
            cps = self._checkpoints(i, trained)
            out.append(ArmResult(
                name=arm.name, kind=arm.kind, status=status, error=error, steps_done=steps,
                components=self.components[i], checkpoints=tuple(cps), nonfinite_steps=end.nonfinite,
                params=end.params,
                losses={name: tuple(float(v) for v in values[: len(cps), i]) for name, values in self.loss.items()},
                stopped=left is not None, resumed_from_steps=min(steps, self.resumed_at * self.rollout_steps)))
        return out

    def _checkpoints(self, i: int, rollouts: int) -> list[Checkpoint]:
        w, names, step = self.window, self.components[i], self.rollout_steps
        out = []
        for u in range(rollouts):
            eps = int(w.episodes[u, i])

            def mean(sums: Any, u: int = u, eps: int = eps) -> float | None:
                return float(sums[u, i]) / eps if eps else None
            fit_n = int(w.fit_n[u, i])
            out.append(Checkpoint(
                timesteps=(u + 1) * step, episodes=eps, episode_length=mean(w.length),
                fitness=float(w.fit[u, i]) / fit_n if fit_n else None, env_return=mean(w.env_ret),
                reward_return=mean(w.total_ret),
                component_returns={n: float(w.comp_ret[u, i, j]) / eps for j, n in enumerate(names)} if eps else {},
                component_step_means={n: float(w.comp_step[u, i, j]) / step for j, n in enumerate(names)},
            ))
        return out

    # -- saved between segments (:mod:`envs.backends.jax.segments`) ------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"window/{n}": v for n, v in zip(Window._fields, self.window, strict=True)}
        out.update({f"loss/{n}": v for n, v in self.loss.items()})
        out.update(alive=self.alive, stepped=self.stepped)
        for i, left in self.left.items():
            out.update({f"left/{i}/{n}": v for n, v in left.params.items()})
        return out

    def meta(self) -> dict[str, Any]:
        return {"done": self.done, "left": {str(i): [lf.nonfinite, lf.died_at, lf.alive, lf.steps]
                                            for i, lf in self.left.items()}}

    def restore(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        """Take over what :meth:`arrays` and :meth:`meta` saved (the same round: shapes are checked by the caller)."""
        self.window = Window(*(np.array(arrays[f"window/{n}"]) for n in Window._fields))
        self.loss = {k.split("/", 1)[1]: np.array(v) for k, v in arrays.items() if k.startswith("loss/")}
        self.alive, self.stepped = np.array(arrays["alive"]), np.array(arrays["stepped"])
        self.done = self.resumed_at = int(meta["done"])
        for key, (nonfinite, died_at, alive, steps) in meta["left"].items():
            prefix = f"left/{key}/"
            params = {k[len(prefix):]: np.array(v) for k, v in arrays.items() if k.startswith(prefix)}
            self.left[int(key)] = Left(params, int(nonfinite), int(died_at), bool(alive), int(steps))
