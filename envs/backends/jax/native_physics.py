"""MuJoCo's C engine stepping a whole batch of environments on every core: the jax backend's CPU physics.

:class:`BatchStepper` is the host side of :mod:`envs.backends.jax.native_envs`: the round's program
hands it every env of every arm at once (one ``jax.pure_callback`` per env step), and it steps them
on a pool of threads, each with its own ``MjData``, exactly as Gymnasium's ``do_simulation`` does
(``mj_step`` with the task's frame skip, then ``mj_rnePostConstraint`` where the task reads contact
forces). It is stateless: the state comes in and goes out with every call (qpos, qvel, act and
``qacc_warmstart``, so the constraint solver starts where Gymnasium's would, in float64 split into
two float32 halves the program can carry), and what the task's rules read (body positions, axes,
contact forces …, see :class:`~envs.backends.jax.mujoco_rules.Reads`) comes back packed in one
float32 row per env. Body positions and axes are sensors added to Gymnasium's model with ``MjSpec``
(``xbody`` frame sensors: the values ``data.xpos``/``xmat`` hold after ``mj_step``), so they are one copy.

Why a thread pool over ``MjData`` (measured on the project's 2-core machine, load 2–3, env-steps per
CPU-second, batch of 64 envs, one env step = the task's frame skip; ``bench/native_round.py`` measures
the raw rate the same way):

============  ====================  ==========================  =========================
model         raw ``mj_step`` loop  ``mujoco.rollout``, 2 thr.  this pool, 2 threads
============  ====================  ==========================  =========================
HalfCheetah   42.6k                 35.2k                       33.7k
Hopper        18.0k                 17.2k                       16.1k
Walker2d      12.7k                 12.6k                       11.0k
Ant           6.6k                  6.2k                        6.6k
============  ====================  ==========================  =========================

``mujoco.rollout`` is all C and a few percent cheaper where a step is cheap, but it cannot give what
the tasks need: no ``qacc_warmstart`` out (every env step would start the solver cold, unlike
Gymnasium), no ``cfrc_ext``/``cinert``/``cvel`` (Ant's and Humanoid's observation and contact cost),
and it stops a trajectory at MuJoCo's first warning. The binding releases the GIL inside ``mj_step``
(two threads used 1.4–2.0 cores), so a Python loop per thread costs only its few calls per env.
EnvPool (1.2.5 installs for Python 3.11) steps its own bundled MuJoCo with v4 semantics, resets
inside the pool and exposes neither the state nor ``xpos``, so the program could neither keep the
state in its carry nor read the task's fields; its HalfCheetah rate was 1.0–1.4× Gymnasium's step
(shared/notes/throughput-5727bf0.md), below both of the above.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardsmith.envs.backends.jax.mujoco_rules import MujocoRules, body_linvel, layout_size


def split64(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 as two float32 arrays whose sum holds ~48 bits of it (the program carries no float64)."""
    hi = x.astype(np.float32)
    return hi, (x - hi).astype(np.float32)


@dataclass
class _Batch:
    """One call's arrays; worker threads take envs from ``next_env`` until it passes ``n``."""

    n: int
    x_in: np.ndarray
    """(n, nstate + nu) float64: qpos, qvel, act, warmstart, ctrl."""
    x_out: np.ndarray
    """(n, nstate) float64."""
    gathered: dict[str, np.ndarray]
    """Per gathered MjData array (:meth:`BatchStepper._gathers`), (n, rows, ...) float64."""
    forward: bool
    next_env: Any = field(default_factory=itertools.count)


class BatchStepper:
    """Steps a batch of one task's envs on ``threads`` threads; thread-safe (one call at a time).

    Args:
        rules: the task's rules (model file, frame skip, what to read).
        threads: worker threads (default: the cores this process may run on).
    """

    def __init__(self, rules: MujocoRules, threads: int | None = None) -> None:
        import mujoco

        from rewardsmith.envs.adapters.mujoco import route_mujoco_warnings

        route_mujoco_warnings()
        self._mj = mujoco
        self.rules = rules
        # the task's own model, unchanged (Gymnasium's file, or the one a task on a model compiled with its sensors)
        self.model = m = rules.load_model()
        self.frame_skip = rules.frame_skip
        self.dt = float(m.opt.timestep) * rules.frame_skip
        st = mujoco.mjtState
        self._spec_phys = int(st.mjSTATE_QPOS) | int(st.mjSTATE_QVEL) | int(st.mjSTATE_ACT) | int(st.mjSTATE_WARMSTART)
        self._spec_in = self._spec_phys | int(st.mjSTATE_CTRL)
        self.nstate = mujoco.mj_stateSize(m, self._spec_phys)
        self.nphys = self.nstate + 2
        """Length of the carried float64 vector: the MuJoCo state, then the tracked point's x, y."""
        self.layout = rules.layout(m)
        self.nread = layout_size(self.layout)
        self._gathers = self._plan_gathers()
        d = mujoco.MjData(m)
        self._gather_shapes = {k: getattr(d, attr)[rows].shape for k, (attr, rows) in self._gathers.items()}
        self.threads = max(1, threads if threads is not None else len(os.sched_getaffinity(0)))
        self._datas = [mujoco.MjData(m) for _ in range(self.threads)]
        self._pool = ThreadPoolExecutor(self.threads - 1, "mujoco") if self.threads > 1 else None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _body(self, name: str) -> slice:
        """A body's row of an MjData array, as a slice (a view: no temporary per env)."""
        i = int(self.model.body(name).id)
        return slice(i, i + 1)

    def _plan_gathers(self) -> dict[str, tuple[str, Any]]:
        """What each env copies out of MjData after its step: name -> (MjData attribute, rows)."""
        reads, nbody = self.rules.reads, self.model.nbody
        out: dict[str, tuple[str, Any]] = {}
        if reads.bodies:
            ids = [int(self.model.body(b).id) for b in reads.bodies]
            out["xpos"] = ("xpos", slice(ids[0], ids[0] + 1) if len(ids) == 1 else ids)
        if reads.axes_body is not None:
            out["xmat"] = ("xmat", self._body(reads.axes_body))
        if reads.linvel_body is not None:
            body = self._body(reads.linvel_body)
            root = int(self.model.body_rootid[body.start])
            out["lin_cvel"] = ("cvel", body)
            out["lin_xpos"] = ("xpos", body)
            out["lin_com"] = ("subtree_com", slice(root, root + 1))
        if reads.track == "body_xy":
            assert reads.track_body is not None
            out["track"] = ("xpos", self._body(reads.track_body))
        elif reads.track == "com_xy":
            # Gymnasium's mass_center weighs every body's xipos by its mass: the subtree COM of the root body
            out["track"] = ("subtree_com", slice(1, 2))
        if reads.cfrc_ext:
            out["cfrc_ext"] = ("cfrc_ext", slice(1, nbody))
        if reads.com_inertia:
            out["cinert"] = ("cinert", slice(1, nbody))
            out["cvel"] = ("cvel", slice(1, nbody))
            out["qfrc_actuator"] = ("qfrc_actuator", slice(None))
        if reads.sensordata:
            out["sensordata"] = ("sensordata", slice(None))
        return out

    # -- the program's calls ------------------------------------------------------------------------
    def step(self, hi: Any, lo: Any, action: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One env step of every env: ``hi``/``lo`` ``(..., nphys)``, ``action`` ``(..., nu)`` -> the next state's
        ``(hi, lo, reads (..., nread))``. Leading axes are the batch (the program's arms and envs)."""
        return self._call(hi, lo, action, forward=False)

    def forward(self, hi: Any, lo: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The reads of states just set (Gymnasium's ``set_state``: ``mj_forward``, no contact forces yet)."""
        zeros = np.zeros((*np.shape(hi)[:-1], self.model.nu), np.float32)
        return self._call(hi, lo, zeros, forward=True)

    def step_packed(self, packed: Any) -> np.ndarray:
        """:meth:`step` on ``hi``, ``lo`` and the action concatenated on the last axis; the outputs likewise."""
        x = np.asarray(packed)
        return np.concatenate(self.step(x[..., :self.nphys], x[..., self.nphys:2 * self.nphys],
                                        x[..., 2 * self.nphys:]), axis=-1)

    def forward_packed(self, packed: Any) -> np.ndarray:
        """:meth:`forward` on ``hi`` and ``lo`` concatenated on the last axis; the outputs likewise."""
        x = np.asarray(packed)
        return np.concatenate(self.forward(x[..., :self.nphys], x[..., self.nphys:]), axis=-1)

    def _call(self, hi: Any, lo: Any, action: Any, forward: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lead = np.shape(hi)[:-1]
        x = np.asarray(hi, np.float64).reshape(-1, self.nphys) + np.asarray(lo, np.float64).reshape(-1, self.nphys)
        ctrl = np.asarray(action, np.float64).reshape(-1, self.model.nu)
        n = x.shape[0]
        batch = _Batch(n, np.ascontiguousarray(np.concatenate([x[:, :self.nstate], ctrl], axis=1)),
                       np.empty((n, self.nstate)), {k: np.empty((n, *shape)) for k, shape in self._gather_shapes.items()},
                       forward)
        with self._lock:
            self._run_all(batch)
        out = np.concatenate([batch.x_out, self._track(batch)], axis=1)
        velocity = np.zeros((n, 2)) if forward else (out[:, -2:] - x[:, -2:]) / self.dt
        reads = self._reads(batch, velocity)
        new_hi, new_lo = split64(out)
        return (new_hi.reshape(*lead, self.nphys), new_lo.reshape(*lead, self.nphys),
                reads.reshape(*lead, self.nread))

    # -- the threads --------------------------------------------------------------------------------
    def _run_all(self, batch: _Batch) -> None:
        futures: list[Future[None]] = []
        if self._pool is not None:
            futures = [self._pool.submit(self._run, batch, d) for d in self._datas[1:]]
        self._run(batch, self._datas[0])
        for f in futures:
            f.result()

    def _run(self, batch: _Batch, d: Any) -> None:
        mj, m = self._mj, self.model
        # views into this thread's MjData, made once per call; each env's rows are copied out of them
        copies = [(getattr(d, attr), rows, batch.gathered[k]) for k, (attr, rows) in self._gathers.items()]
        post = self.rules.reads.cfrc_ext and not batch.forward
        for i in batch.next_env:  # itertools.count: each thread takes the next env (atomic under the GIL)
            if i >= batch.n:
                return
            mj.mj_setState(m, d, batch.x_in[i], self._spec_in)
            if batch.forward:
                mj.mj_forward(m, d)
            else:
                mj.mj_step(m, d, self.frame_skip)
                if post:
                    mj.mj_rnePostConstraint(m, d)
            mj.mj_getState(m, d, batch.x_out[i], self._spec_phys)
            for src, rows, dst in copies:
                dst[i] = src[rows]

    # -- packing ----------------------------------------------------------------------------------------
    def _track(self, batch: _Batch) -> np.ndarray:
        """(n, 2) the tracked point's x, y after the call."""
        track = self.rules.reads.track
        if track in ("body_xy", "com_xy"):
            return batch.gathered["track"][:, 0, :2]
        if track == "qpos_xy":
            return batch.x_out[:, 0:2]
        if track == "qpos_x":
            return np.stack([batch.x_out[:, 0], np.zeros(batch.n)], axis=1)
        return np.zeros((batch.n, 2))

    def _reads(self, batch: _Batch, velocity: np.ndarray) -> np.ndarray:
        m, n, g = self.model, batch.n, batch.gathered
        values: dict[str, np.ndarray] = {"qpos": batch.x_out[:, :m.nq], "qvel": batch.x_out[:, m.nq:m.nq + m.nv],
                                         "velocity": velocity}
        if "xpos" in g:
            values["xpos"] = g["xpos"]
        if "xmat" in g:
            xmat = g["xmat"][:, 0]  # row-major 3x3: the frame's axes are its columns
            values["xaxis"], values["zaxis"] = xmat[:, [0, 3, 6]], xmat[:, [2, 5, 8]]
        if "lin_cvel" in g:
            values["linvel"] = body_linvel(np, g["lin_cvel"][:, 0], g["lin_xpos"][:, 0] - g["lin_com"][:, 0])
        for k in ("cfrc_ext", "cinert", "cvel", "qfrc_actuator", "sensordata"):
            if k in g:
                values[k] = np.zeros_like(g[k]) if batch.forward and k == "cfrc_ext" else g[k]
        # a reset's contact forces are zero (Gymnasium's mj_forward does not compute them; this MjData holds an
        # older step's)
        reads = np.concatenate([values[name].reshape(n, -1) for name, _ in self.layout], axis=1)
        return reads.astype(np.float32)
