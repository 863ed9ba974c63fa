"""PPO's parts for the JAX backend: settings, the actor-critic network, the loss and one update.

The parts come from maintained libraries: flax (the MLP), distrax (the action distributions),
optax (Adam with gradient clipping). The PPO loop itself (:mod:`envs.backends.jax.program`) is written
here because no library trains K policies on K *different* reward programs in one compiled program:
Brax's PPO and rejax train one reward (vmapping over seeds or hyper-parameters at best), and Brax's
trainers are also broken on jax 0.10 (they call the removed ``jax.device_put_replicated``,
shared/notes/perf-baseline.md §5). Everything here is per candidate; the round vmaps it over K.

Settings follow stable-baselines3's PPO (same names, same defaults, read from the task file's
``[train.ppo]``), so a task trains with the same hyper-parameters on both backends: separate
64-64 tanh actor and critic, orthogonal init (gain √2, 0.01 for the action head, 1 for the value),
state-independent log-std starting at 0, advantages normalized per minibatch, unclipped value loss,
Adam (eps 1e-5) with the global gradient norm clipped at ``max_grad_norm``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

Array = jax.Array
Params = Any  # a flax parameter tree


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters; names and defaults are stable-baselines3's."""

    learning_rate: float = 3e-4
    """Adam step size (constant)."""
    n_steps: int = 2048
    """Steps per env per rollout."""
    batch_size: int = 64
    """Minibatch size (samples)."""
    n_epochs: int = 10
    """Passes over each rollout."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_range: float = 0.2
    """PPO ratio clip."""
    ent_coef: float = 0.0
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value loss weight."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    normalize_advantage: bool = True
    """Normalize advantages per minibatch."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the actor and of the critic (separate networks)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of a continuous policy."""

    @classmethod
    def from_task(cls, ppo: Any) -> PPOConfig:
        """From a task's PPO settings (a mapping, or the task's settings model: anything with ``model_dump``).

        Settings this backend does not implement are listed by :meth:`ignored` (gSDE: a plain
        diagonal Gaussian is used instead; ``target_kl``, ``clip_range_vf``).
        """
        values = _as_dict(ppo)
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {k: v for k, v in values.items() if k in known and v is not None}
        arch = values.get("net_arch") or (values.get("policy_kwargs") or {}).get("net_arch")
        if isinstance(arch, list | tuple):
            kwargs["hidden"] = tuple(int(n) for n in arch)
        return cls(**kwargs)

    @staticmethod
    def ignored(ppo: Any) -> tuple[str, ...]:
        """Settings given a non-default value that this backend does not implement."""
        values = _as_dict(ppo)
        unsupported = {"use_sde": False, "sde_sample_freq": -1, "target_kl": None, "clip_range_vf": None}
        return tuple(sorted(k for k, default in unsupported.items() if values.get(k, default) != default))


def _as_dict(ppo: Any) -> dict[str, Any]:
    dump = getattr(ppo, "model_dump", None)
    return dict(dump()) if callable(dump) else dict(ppo)


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs (SB3's MlpPolicy layout)."""

    n_actions: int
    discrete: bool
    hidden: tuple[int, ...]
    log_std_init: float

    @nn.compact
    def __call__(self, obs: Array) -> tuple[Array, Array, Array]:
        """obs: (..., obs_dim) → (logits or mean (..., n_actions), log_std (n_actions,), value (...))."""
        def mlp(x: Array, prefix: str) -> Array:
            for i, width in enumerate(self.hidden):
                x = nn.tanh(nn.Dense(width, kernel_init=nn.initializers.orthogonal(np.sqrt(2)),
                                     bias_init=nn.initializers.zeros, name=f"{prefix}_{i}")(x))
            return x

        head = nn.Dense(self.n_actions, kernel_init=nn.initializers.orthogonal(0.01),
                        bias_init=nn.initializers.zeros, name="pi_out")(mlp(obs, "pi"))
        value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0), bias_init=nn.initializers.zeros,
                         name="vf_out")(mlp(obs, "vf"))[..., 0]
        log_std = self.param("log_std", nn.initializers.constant(self.log_std_init), (self.n_actions,))
        return head, log_std, value


def distribution(discrete: bool, head: Array, log_std: Array) -> distrax.Distribution:
    if discrete:
        return distrax.Categorical(logits=head)
    return distrax.MultivariateNormalDiag(head, jnp.exp(jnp.broadcast_to(log_std, head.shape)))


class Batch(NamedTuple):
    """One rollout of one candidate, flattened to samples: every leaf ``(N, ...)``."""

    obs: Array
    actions: Array
    log_probs: Array
    advantages: Array
    returns: Array


def optimizer(config: PPOConfig) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                       optax.adam(config.learning_rate, eps=1e-5))


def gae(rewards: Array, values: Array, next_values: Array, dones: Array, gamma: float,
        lam: float) -> tuple[Array, Array]:
    """Generalized advantage estimation over a rollout: all inputs ``(T, n)``.

    ``next_values`` is the value of the state after each step (0 where the episode terminated; a
    time-out's bootstrap is already in ``rewards``, as SB3 does); ``dones`` cuts the recursion.
    """
    def back(carry: Array, xs: tuple[Array, ...]) -> tuple[Array, Array]:
        r, v, nv, d = xs
        delta = r + gamma * nv * (1.0 - d) - v
        adv = delta + gamma * lam * (1.0 - d) * carry
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(rewards[0]), (rewards, values, next_values, dones), reverse=True)
    return adv, adv + values


def ppo_loss(params: Params, net: ActorCritic, config: PPOConfig, mb: Batch) -> tuple[Array, dict[str, Array]]:
    head, log_std, values = net.apply(params, mb.obs)  # type: ignore[misc]
    dist = distribution(net.discrete, head, log_std)
    log_prob = dist.log_prob(mb.actions)
    adv = mb.advantages
    if config.normalize_advantage:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = jnp.exp(log_prob - mb.log_probs)
    policy_loss = -jnp.minimum(adv * ratio, adv * jnp.clip(ratio, 1 - config.clip_range, 1 + config.clip_range)).mean()
    value_loss = jnp.mean((mb.returns - values) ** 2)
    entropy = dist.entropy().mean()
    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
    return loss, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
                  "approx_kl": jnp.mean((ratio - 1) - (log_prob - mb.log_probs))}


def update(params: Params, opt_state: Any, batch: Batch, key: Array, net: ActorCritic, config: PPOConfig,
           tx: optax.GradientTransformation) -> tuple[Params, Any, dict[str, Array]]:
    """``n_epochs`` passes of shuffled minibatches over one candidate's rollout (SB3's ``PPO.train``)."""
    n = batch.obs.shape[0]
    n_mb = n // config.batch_size  # SB3 drops no sample: batch sizes here divide the rollout (checked by the round)

    def epoch(carry: tuple[Params, Any], k: Array) -> tuple[tuple[Params, Any], dict[str, Array]]:
        perm = jax.random.permutation(k, n)
        mbs = jax.tree.map(lambda x: x[perm].reshape(n_mb, config.batch_size, *x.shape[1:]), batch)

        def step(c: tuple[Params, Any], mb: Batch) -> tuple[tuple[Params, Any], dict[str, Array]]:
            p, s = c
            grads, info = jax.grad(ppo_loss, has_aux=True)(p, net, config, mb)
            upd, s = tx.update(grads, s, p)
            return (optax.apply_updates(p, upd), s), info

        return jax.lax.scan(step, carry, mbs)

    (params, opt_state), info = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, config.n_epochs))
    return params, opt_state, jax.tree.map(jnp.mean, info)
