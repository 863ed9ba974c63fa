"""One round of the JAX backend: K reward arms, K policies, one compiled program.

Each arm (a designed candidate, or a baseline: ``env`` = the environment's own reward, the "human"
arm; ``sparse`` = the task's fitness paid once at the end of each episode) gets its own slice of
``n_envs`` vectorized environments and its own policy. Parameters and optimizer states are stacked
on a leading K axis; the policy forward pass and the PPO update are ``vmap``-ed over K; the rewards
are K different programs, so each is called on its own slice (a Python loop at trace time, as
EnvCoderBench does with sub-groups) — the compiled program holds all K. One ``jit`` per round:
``rollouts_per_call`` PPO iterations (rollout + update) run inside one call of the compiled step,
which is called until the budget is spent, so progress can be reported between calls without
recompiling. The host's side — the calls, the allocation's decisions between them, the saved segments,
the time limit — is :mod:`envs.backends.jax.driver` (:func:`~envs.backends.jax.driver.train_round`).

A task's own fitness function (Python, not a built-in metric) never runs in the program: the steps of
a few envs per arm go to the host, where it scores their episodes for the training curves, and the
sparse arm's every step goes to the host through one ordered callback per step, which pays each ended
episode its fitness (:mod:`envs.backends.jax.episodes`; the function itself runs in a bounded child,
:mod:`envs.backends.jax.scoring`). A built-in metric stays in the program, with no callback.

Seeds: every arm has a training seed (its own, or the round's). Its initial policy, its envs' resets
and steps, its action noise and its minibatch order all come from that seed's key stream, drawn once
per seed and shared by the arms on it: a round's arms share one seed (common random numbers: they
differ by their rewards only), the final comparison's arms each train on a fresh one, and an arm's
training does not depend on which other arms share its program.

Quarantine is per arm: a reward step whose total or components hold NaN/inf is trained on as 0
(counted, as the SB3 backend does); ``max_nonfinite_streak`` such steps in a row, or policy
parameters that stop being finite, freeze that arm (its updates stop, its status is ``"nan"``) and
the others go on. Statistics are reduced on the device per rollout into the same
:class:`~envs.backends.records.Checkpoint` records the SB3 backend writes to ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from rewardsmith.envs.backends.jax.arms import Arm, RoundConfig, Window
from rewardsmith.envs.backends.jax.envs import JaxEnv
from rewardsmith.envs.backends.jax.episodes import Sampled, SparseFitness
from rewardsmith.envs.backends.jax.metrics import EpisodeMetric, jax_metric
from rewardsmith.envs.backends.jax.ppo import ActorCritic, Batch, distribution, gae, optimizer, update

Array = jax.Array


class Carry(NamedTuple):
    """The round's state between env steps: every arm's policy, optimizer, envs and running episode sums.

    Leaves are stacked on a leading K axis (arms); per-env ones are ``(K, n, ...)``.
    """

    params: Any
    """The K policies' flax parameters."""
    opt: Any
    """The K optimizer states (optax)."""
    env: Any
    """The K×n environment states."""
    obs: Array
    """(K, n, obs_dim) current observations."""
    key: Array
    """(U, 2): one PRNG key per distinct training seed (:attr:`Program.seeds`); an arm draws from its seed's."""
    alive: Array
    """(K,) bool: the arm still trains (not frozen by NaN/inf)."""
    streak: Array
    """(K,) int: reward steps in a row with NaN/inf."""
    nonfinite: Array
    """(K,) int: reward steps with NaN/inf so far."""
    died_at: Array
    """(K,) int: the env-step an arm was frozen at (-1: never)."""
    timestep: Array
    """() int: env-steps per arm so far."""
    ep_len: Array
    """(K, n) int: steps of each env's running episode."""
    env_ret: Array
    """(K, n): the env's own reward summed over the running episode."""
    total_ret: Array
    """(K, n): the arm's reward summed over the running episode."""
    comp_ret: Array
    """(K, C, n): each component summed over the running episode."""
    fit: Any
    """The fitness metric's running accumulators, per arm and env."""
    first: Array
    """(K, n) bool: the next step starts an episode."""


class Transition(NamedTuple):
    """One env step of every arm, as the rollout scan stacks it: leaves ``(K, n, ...)`` (``(T, K, n, ...)`` stacked)."""

    obs: Array
    raw: Array
    """The sampled action before clipping (what the log-probability is of)."""
    log_prob: Array
    value: Array
    reward: Array
    """The reward trained on (non-finite values as 0; a truncated episode's bootstrapped)."""
    done: Array
    next_value: Array
    """V(next state), 0 where the episode terminated."""
    ended: Array
    ep_len: Array
    env_ret: Array
    total_ret: Array
    end_fit: Array
    """The episode's fitness where it ended (NaN elsewhere)."""
    comp_step: Array
    """(K, C, n) each component's value at this step."""
    comp_ret: Array
    sampled: Sampled
    """The first ``sample_envs`` envs' steps of the sampled arms, for a task's own fitness function on the host
    (the training curves; none: ``m = 0``)."""
    sparse: Sampled
    """Every env's step of the host-paid sparse arms (none: no such arm)."""


class Iteration(NamedTuple):
    """What one PPO iteration reports to the host."""

    window: Window
    alive: Array
    alive_before: Array
    ppo: Any
    sampled: Sampled


def _strong(tree: Any) -> Any:
    """Drop weak types so a reset state and a stepped state have the same scan-carry types."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.result_type(x)), tree)


def _finite0(x: Array) -> Array:
    return jnp.where(jnp.isfinite(x), x, 0.0)


class Program:
    """Builds the round's carry and its compiled step; every piece of per-arm Python is resolved at trace time."""

    def __init__(self, env: JaxEnv, arms: Sequence[Arm], config: RoundConfig, fitness_ref: str,
                 sample_envs: int = 0, sparse_fitness: SparseFitness | None = None) -> None:
        self.env, self.arms, self.config = env, tuple(arms), config
        self.k, self.n = len(arms), config.n_envs
        seeds = [config.seed if a.seed is None else a.seed for a in arms]
        self.seeds = tuple(dict.fromkeys(seeds))
        """The round's distinct training seeds, in the order of their first arm (one key stream each)."""
        self.group = np.array([self.seeds.index(s) for s in seeds])
        """(K,) each arm's row in :attr:`seeds`."""
        self.metric: EpisodeMetric | None = jax_metric(fitness_ref)
        self.host_sparse = tuple(i for i, a in enumerate(arms) if a.kind == "sparse") if self.metric is None else ()
        """The sparse arms paid by the task's own fitness function, on the host (none with a built-in metric)."""
        if self.host_sparse and sparse_fitness is None:
            raise ValueError(f"the sparse arm needs a built-in fitness metric or the task's fitness function on the "
                             f"host, and {fitness_ref!r} came without the function")
        self.sparse_fitness = sparse_fitness
        self.sampled_arms = tuple(i for i in range(self.k) if i not in self.host_sparse)
        """The arms whose first :attr:`m` envs go to the host for the training curves (a host-paid sparse arm's
        episodes are all scored already)."""
        self.m = min(sample_envs, self.n)
        """Envs per sampled arm whose every step goes to the host (:mod:`envs.backends.jax.episodes`)."""
        self.net = ActorCritic(env.n_actions, env.discrete, config.ppo.hidden, config.ppo.log_std_init)
        self.tx = optimizer(config.ppo)
        self.components = tuple(self._component_names(a) for a in arms)
        self.c = max(len(names) for names in self.components)
        """Components per arm in the stacked ``(K, C, n)`` arrays (an arm with fewer has zero rows)."""
        rollout = config.ppo.n_steps * config.n_envs
        if rollout % config.ppo.batch_size:
            raise ValueError(f"batch_size {config.ppo.batch_size} must divide n_steps*n_envs = {rollout}")

    # -- rewards ------------------------------------------------------------------------------
    def _state_spec(self) -> tuple[dict[str, jax.ShapeDtypeStruct], jax.ShapeDtypeStruct]:
        fields = {f.name: jax.ShapeDtypeStruct((self.n, *f.shape), jnp.float32) for f in self.env.spec.fields}
        return fields, jax.ShapeDtypeStruct((self.n, self.env.spec.action.dim), jnp.float32)

    def _component_names(self, arm: Arm) -> tuple[str, ...]:
        if arm.kind == "env":
            return ("env_reward",)
        if arm.kind == "sparse":
            return ("fitness_at_end",)
        if arm.reward is None:
            raise ValueError(f"arm {arm.name!r} is a candidate without a reward function")
        fields, action = self._state_spec()
        params = {p: jax.ShapeDtypeStruct((self.n,), jnp.float32) for p in arm.params}
        total, comps = jax.eval_shape(arm.reward, params, fields, action)
        shapes = {"total": total.shape, **{c: v.shape for c, v in comps.items()}}
        wrong = {c: s for c, s in shapes.items() if s != (self.n,)}
        if wrong:
            raise ValueError(f"arm {arm.name!r}: reward outputs must have shape ({self.n},), got {wrong}")
        return tuple(comps)

    def _reward(self, i: int, fields: dict[str, Array], actions: Array, env_reward: Array,
                end_fit: Array) -> tuple[Array, dict[str, Array]]:
        arm = self.arms[i]
        if arm.kind == "env":
            return env_reward, {"env_reward": env_reward}
        if arm.kind == "sparse":
            total = jnp.where(jnp.isnan(end_fit), 0.0, end_fit)
            return total, {"fitness_at_end": total}
        assert arm.reward is not None
        params = {p: jnp.full((self.n,), v, jnp.float32) for p, v in arm.params.items()}
        total, comps = arm.reward(params, fields, actions)
        return jax.lax.stop_gradient(total), {c: jax.lax.stop_gradient(v) for c, v in comps.items()}

    # -- state --------------------------------------------------------------------------------
    def _per_arm(self, x: Array) -> Array:
        """``(U, ...)`` per seed → ``(K, ...)`` per arm: each arm gets its seed's row."""
        if len(self.seeds) == 1:  # a round: every arm on one seed (a broadcast, not a gather)
            return jnp.broadcast_to(x, (self.k, *x.shape[1:]))
        return x[self.group]

    def _split(self, keys: Array, n: int) -> Array:
        """``(U, 2)`` keys → ``(U, n, 2)``: each seed's stream split in ``n``."""
        return jax.vmap(lambda k: jax.random.split(k, n))(keys)

    def _resets(self, keys: Array) -> tuple[Any, Array]:
        """Fresh env states and observations for each seed's ``n`` envs: leaves ``(U, n, ...)``."""
        return jax.vmap(jax.vmap(self.env.reset))(self._split(keys, self.n))

    def init(self) -> Carry:
        start = self._split(jnp.stack([jax.random.PRNGKey(seed) for seed in self.seeds]), 3)
        k_init, k_reset, key = start[:, 0], start[:, 1], start[:, 2]
        params = jax.vmap(lambda k: self.net.init(k, jnp.zeros((1, self.env.obs_dim), jnp.float32)))(k_init)
        params = jax.tree.map(self._per_arm, params)
        env_state, obs = self._resets(k_reset)
        stack = lambda x: jnp.broadcast_to(x, (self.k, *jnp.shape(x)))  # noqa: E731 - empty accumulators, every arm
        metric = self.metric
        metric_acc = jax.vmap(lambda _: metric.init())(jnp.arange(self.n)) if metric is not None else {}
        zeros = jnp.zeros((self.k, self.n), jnp.float32)
        return _strong(Carry(
            params=params, opt=jax.vmap(self.tx.init)(params),
            env=jax.tree.map(self._per_arm, env_state), obs=self._per_arm(obs), key=key,
            alive=jnp.ones(self.k, bool), streak=jnp.zeros(self.k, jnp.int32),
            nonfinite=jnp.zeros(self.k, jnp.int32), died_at=jnp.full(self.k, -1, jnp.int32),
            timestep=jnp.zeros((), jnp.int32),
            ep_len=jnp.zeros((self.k, self.n), jnp.int32), env_ret=zeros, total_ret=zeros,
            comp_ret=jnp.zeros((self.k, self.c, self.n), jnp.float32),
            fit=jax.tree.map(stack, metric_acc), first=jnp.ones((self.k, self.n), bool),
        ))

    # -- one env step for all arms ----------------------------------------------------------------
    def _env_step(self, c: Carry, _: Any) -> tuple[Carry, Transition]:
        env, cfg = self.env, self.config.ppo
        keys = self._split(c.key, 4)
        key, k_act, k_step, k_reset = keys[:, 0], keys[:, 1], keys[:, 2], keys[:, 3]
        apply = jax.vmap(self.net.apply)
        head, log_std, value = apply(c.params, c.obs)  # type: ignore[misc]
        dist = distribution(env.discrete, head, log_std[:, None, :])
        # Each arm's action noise from its seed's key: arms on one seed draw the same noise (common random numbers).
        raw = jax.vmap(lambda h, s, k: distribution(env.discrete, h, s).sample(seed=k))(
            head, log_std[:, None, :], self._per_arm(k_act))
        log_prob = dist.log_prob(raw)
        action = raw if env.discrete else jnp.clip(raw, env.action_low, env.action_high)
        vv = lambda f: jax.vmap(jax.vmap(f))  # noqa: E731 - over arms, then envs
        out = vv(env.step)(self._per_arm(self._split(k_step, self.n)), c.env, action)
        fields = vv(env.fields)(out.state)
        rows = vv(env.action_row)(action)
        out = out._replace(env_reward=env.batch_env_reward(fields, rows, out.env_reward))
        done = jnp.logical_or(out.terminated, out.truncated)
        ep_len = c.ep_len + 1
        if self.metric is not None:
            fit = vv(self.metric.update)(c.fit, fields, out.env_reward, c.first)
            end_fit = jnp.where(done, vv(self.metric.value)(fit, ep_len), jnp.nan)
        else:
            fit, end_fit = c.fit, jnp.full((self.k, self.n), jnp.nan)
        flat = jnp.concatenate([fields[f.name].reshape(self.k, self.n, -1) for f, _ in self.env.spec.slices()], axis=-1)
        # The rewards are K different programs: only their calls are per arm; everything after works on
        # (K, n) totals and (K, C, n) components (fewer, larger ops: the round compiles faster).
        totals, comps = [], []
        for i in range(self.k):
            total, parts = self._reward(i, {f: v[i] for f, v in fields.items()}, rows[i], out.env_reward[i], end_fit[i])
            names = self.components[i]
            totals.append(total)
            comps.append(jnp.stack([parts[name] for name in names]
                                   + [jnp.zeros_like(total)] * (self.c - len(names))))
        raw_total, raw_comps = jnp.stack(totals), jnp.stack(comps)
        step_bad = jnp.logical_not(jnp.logical_and(jnp.all(jnp.isfinite(raw_total), axis=1),
                                                   jnp.all(jnp.isfinite(raw_comps), axis=(1, 2))))
        total, comp = _finite0(raw_total), _finite0(raw_comps)
        streak = jnp.where(step_bad, c.streak + 1, 0)
        dies = jnp.logical_and(c.alive, streak >= self.config.max_nonfinite_streak)
        timestep = c.timestep + self.n
        next_value = apply(c.params, out.obs)[2]  # type: ignore[misc]
        # SB3's time-out bootstrap: a truncated episode's last reward gets gamma * V(its last state).
        train_reward = total + cfg.gamma * next_value * out.truncated
        env_ret, total_ret = c.env_ret + out.env_reward, c.total_ret + total
        comp_ret = c.comp_ret + comp
        record = Transition(
            obs=c.obs, raw=raw, log_prob=log_prob, value=value, reward=train_reward,
            done=done, next_value=jnp.where(out.terminated, 0.0, next_value),
            ended=done, ep_len=ep_len, env_ret=env_ret, total_ret=total_ret, end_fit=end_fit,
            comp_step=comp, comp_ret=comp_ret, sampled=self._steps(flat, rows, out, self.sampled_arms, self.m),
            sparse=self._steps(flat, rows, out, self.host_sparse, self.n),
        )
        r_state, r_obs = self._resets(k_reset)
        r_state = jax.tree.map(self._per_arm, r_state)
        pick = lambda new, old: jnp.where(done.reshape(done.shape + (1,) * (new.ndim - 2)), new, old)  # noqa: E731
        keep = lambda x: jnp.where(done, 0, x)  # noqa: E731
        c = c._replace(
            key=key, env=_strong(jax.tree.map(pick, r_state, out.state)),
            obs=pick(self._per_arm(r_obs), out.obs),
            streak=streak, nonfinite=c.nonfinite + jnp.logical_and(step_bad, c.alive).astype(jnp.int32),
            alive=jnp.logical_and(c.alive, jnp.logical_not(dies)),
            died_at=jnp.where(dies, timestep, c.died_at), timestep=timestep,
            ep_len=keep(ep_len), env_ret=keep(env_ret), total_ret=keep(total_ret),
            comp_ret=jnp.where(done[:, None, :], 0.0, comp_ret),
            fit=fit, first=done)
        return c, record

    @staticmethod
    def _steps(flat: Array, rows: Array, out: Any, arms: tuple[int, ...], m: int) -> Sampled:
        """This step of the first ``m`` envs of ``arms``, for the host: leaves ``(len(arms), m, ...)``."""
        take = lambda x: x[np.array(arms, dtype=int), :m]  # noqa: E731
        return Sampled(rows=take(flat), actions=take(rows), env_reward=take(out.env_reward),
                       terminated=take(out.terminated), truncated=take(out.truncated))

    # -- one PPO iteration ------------------------------------------------------------------------
    def _iteration(self, c: Carry, _: Any) -> tuple[Carry, Iteration]:
        cfg = self.config.ppo
        alive_before = c.alive
        c, tr = jax.lax.scan(self._env_step, c, None, length=cfg.n_steps)  # leaves (T, K, n, ...)
        if self.host_sparse:
            tr = self._pay_sparse(tr)
        swap = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731 - (T, K, ...) -> (K, T, ...)
        adv, ret = jax.vmap(gae, in_axes=(0, 0, 0, 0, None, None))(
            swap(tr.reward), swap(tr.value), swap(tr.next_value), swap(tr.done).astype(jnp.float32),
            cfg.gamma, cfg.gae_lambda)
        flat = lambda x: swap(x).reshape(self.k, -1, *x.shape[3:])  # noqa: E731 - (K, T*n, ...)
        batch = Batch(flat(tr.obs), flat(tr.raw), flat(tr.log_prob), adv.reshape(self.k, -1),
                      ret.reshape(self.k, -1))
        split = self._split(c.key, 2)
        key, keys = split[:, 0], self._per_arm(split[:, 1])  # each arm's minibatch order from its seed
        params, opt, info = jax.vmap(lambda p, o, b, k: update(p, o, b, k, self.net, cfg, self.tx))(
            c.params, c.opt, batch, keys)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf.reshape(self.k, -1)), axis=1)
                                    for leaf in jax.tree.leaves(params)]), axis=0)
        broke = jnp.logical_and(c.alive, jnp.logical_not(finite))
        alive = jnp.logical_and(c.alive, finite)
        mask = lambda new, old: jnp.where(alive.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)  # noqa: E731
        c = c._replace(key=key, params=jax.tree.map(mask, params, c.params), opt=jax.tree.map(mask, opt, c.opt),
                       alive=alive, died_at=jnp.where(broke, c.timestep, c.died_at))
        return c, Iteration(window=self._window(tr), alive=c.alive, alive_before=alive_before, ppo=info,
                            sampled=tr.sampled)

    def _pay_sparse(self, tr: Transition) -> Transition:
        """The host-paid sparse arms' rewards for a rollout: its steps go to the host in one ordered callback, which
        returns each ended episode's fitness where it ended; the rollout's records of those arms (0 until now: a
        sparse reward is 0 but at an episode's end) take it in. PPO reads the rewards only after the rollout."""
        assert self.sparse_fitness is not None
        arms, steps = np.array(self.host_sparse, dtype=int), self.config.ppo.n_steps
        paid = io_callback(self.sparse_fitness.rollout, jax.ShapeDtypeStruct((steps, len(arms), self.n), jnp.float32),
                           tr.sparse, ordered=True)
        got = _finite0(paid)  # NaN: no episode ended there
        return tr._replace(
            reward=tr.reward.at[:, arms].add(got), end_fit=tr.end_fit.at[:, arms].set(paid),
            total_ret=tr.total_ret.at[:, arms].set(got), comp_step=tr.comp_step.at[:, arms, 0].set(got),
            comp_ret=tr.comp_ret.at[:, arms, 0].set(got))

    def _window(self, tr: Transition) -> Window:
        """Per-arm sums over one rollout, for :class:`Checkpoint` (means are taken on the host)."""
        ended = tr.ended
        on_end = lambda x: jnp.sum(jnp.where(ended, x, 0.0), axis=(0, 2))  # noqa: E731 - (T, K, n) -> (K,)
        fit_ok = jnp.logical_and(ended, jnp.isfinite(tr.end_fit))
        return Window(
            episodes=jnp.sum(ended, axis=(0, 2)), length=on_end(tr.ep_len.astype(jnp.float32)),
            env_ret=on_end(tr.env_ret), total_ret=on_end(tr.total_ret),
            fit=jnp.sum(jnp.where(fit_ok, tr.end_fit, 0.0), axis=(0, 2)), fit_n=jnp.sum(fit_ok, axis=(0, 2)),
            comp_step=jnp.sum(tr.comp_step, axis=(0, 3)),  # (T, K, C, n) -> (K, C)
            comp_ret=jnp.sum(jnp.where(ended[:, :, None, :], tr.comp_ret, 0.0), axis=(0, 3)),
        )

    def chunk(self, c: Carry, rollouts: int) -> tuple[Carry, Iteration]:
        return jax.lax.scan(self._iteration, c, None, length=rollouts)

    def take(self, source: Program, c: Carry, rows: Sequence[int]) -> Carry:
        """``source``'s carry cut to the arms at ``rows`` (this program's arms, in its order): their policies,
        optimizers, envs and running episodes go on as they were (the round's allocation stopped the others)."""
        take = np.asarray(rows, dtype=int)
        pick = lambda x: x[take]  # noqa: E731
        keys = np.asarray([source.seeds.index(s) for s in self.seeds], dtype=int)
        return c._replace(
            params=jax.tree.map(pick, c.params), opt=jax.tree.map(pick, c.opt), env=jax.tree.map(pick, c.env),
            obs=pick(c.obs), key=c.key[keys], alive=pick(c.alive), streak=pick(c.streak), nonfinite=pick(c.nonfinite),
            died_at=pick(c.died_at), ep_len=pick(c.ep_len), env_ret=pick(c.env_ret), total_ret=pick(c.total_ret),
            comp_ret=pick(c.comp_ret)[:, : self.c], fit=jax.tree.map(pick, c.fit), first=pick(c.first))
