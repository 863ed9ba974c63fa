"""State fields derived from a MuJoCo model: what a task names (or sensible defaults) as MuJoCo sensors.

:func:`build_model` reads an MJCF file with ``MjSpec`` (the task's edits to it: :mod:`.model_spec`), picks the
parts that become state fields — the root body (its position, height, velocities, up axis, heading and
angular velocity), hinge and slide joints, named bodies, sites and sensors, contact flags and forces,
distances between two points — and adds one MuJoCo sensor per read to the model before compiling it.
So every field is a slice of ``data.sensordata`` (plus a small formula: a heading from an axis, a
distance between two positions, a contact flag from a count): :meth:`BuiltModel.read` turns a
``(*batch, nsensordata)`` array into the fields with ``numpy`` or ``jax.numpy``, the same for one
Gymnasium env, a batch stepped by MuJoCo's C engine (``mujoco.rollout`` returns sensordata) or MJX.
Sensors never change the physics. Like Gymnasium's adapters, the values are those of the step's last
physics substep (MuJoCo computes sensors before it integrates).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np

from rewardsmith.core.errors import TaskError
from rewardsmith.core.state import ActionSpec, FieldKind, StateField
from rewardsmith.envs.adapters.model_reads import Formula, Read
from rewardsmith.envs.adapters.model_spec import compile_spec, load_spec
from rewardsmith.envs.adapters.model_spec import unknown_part as _unknown

Forward = Literal["+x", "-x", "+y", "-y"]
SENSOR_PREFIX = "rewardsmith:"
"""Names of the sensors this module adds (no model's own sensor is named so)."""


@dataclass(frozen=True)
class Distance:
    """A distance field between two named points (bodies or sites)."""

    a: str
    b: str
    name: str | None = None
    """The field's name; None: ``<a>_to_<b>``."""


@dataclass(frozen=True)
class Selection:
    """What of the model becomes state fields (a task file's ``[state]`` table); None = the default."""

    root: str | None = None
    """The body whose motion is the robot's; None: the first body with a free joint (else with a slide joint)."""
    joints: tuple[str, ...] | None = None
    """None: every hinge and slide joint not on the root (the root's fields describe its motion)."""
    bodies: tuple[str, ...] = ()
    sites: tuple[str, ...] | None = None
    """None: every named site."""
    sensors: tuple[str, ...] | None = None
    """None: every named sensor of the model."""
    contacts: tuple[str, ...] = ()
    """Bodies or geoms whose contact flag and net contact force become fields."""
    distances: tuple[Distance, ...] = ()
    offsets: tuple[Distance, ...] = ()
    """Where ``b`` is as seen from ``a``: its position in ``a``'s own frame (a target's bearing, e.g.)."""
    forward: Forward = "+x"
    """The world direction the robot's "forward" is."""


@dataclass(frozen=True)
class BuiltModel:
    """The compiled model with its added sensors, and how each state field reads from ``sensordata``."""

    model: Any
    """``mujoco.MjModel`` (its own sensors plus :data:`SENSOR_PREFIX` ones)."""
    reads: tuple[Read, ...]
    root: int | None
    """The root body's id (None: a fixed-base model)."""
    root_qpos_xy: tuple[int, ...]
    """qpos addresses of the root's horizontal position (left out of the observation, as Gymnasium does)."""
    actuators: tuple[str, ...]
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    action_doc: str
    notes: tuple[str, ...] = field(default=())

    @property
    def fields(self) -> tuple[StateField, ...]:
        return tuple(r.field for r in self.reads)

    def read(self, sensordata: Any, xp: ModuleType = np) -> dict[str, Any]:
        """Every field by name from ``(*batch, nsensordata)``; ``xp``: ``numpy`` or ``jax.numpy``."""
        return {r.field.name: r.value(sensordata, xp) for r in self.reads}

    def action_spec(self) -> ActionSpec:
        lows, highs = set(self.action_low), set(self.action_high)
        same = len(lows) == 1 and len(highs) == 1
        return ActionSpec(len(self.actuators), self.action_doc, lows.pop() if same else None, highs.pop() if same else None)


def build_model(path: Path, selection: Selection, remove: Sequence[str] = (),
                damping: Mapping[str, float] | None = None) -> BuiltModel:
    """Compile ``path`` with a sensor per state field (after removing ``remove`` and setting the joints' ``damping``);
    every problem is a one-line :class:`TaskError`."""
    import mujoco

    spec = load_spec(path, remove, damping or {})
    plan = _Plan(compile_spec(spec, path), selection)
    plan.run()
    for i, (kind, objtype, name, ref, intprm) in enumerate(plan.sensors):
        spec.add_sensor(name=f"{SENSOR_PREFIX}{i}", type=kind, objtype=objtype, objname=name,
                        reftype=ref[0] if ref else mujoco.mjtObj.mjOBJ_UNKNOWN, refname=ref[1] if ref else "",
                        intprm=list(intprm) if intprm else [0, 0, 0])
    model = compile_spec(spec, path)
    reads = plan.reads(model)
    names = [r.field.name for r in reads]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise TaskError(f"two state fields would both be named {dup!r}; leave one of their parts out of [state]")
    low, high, doc = _actuators(model)
    return BuiltModel(model=model, reads=reads, root=plan.root, root_qpos_xy=plan.root_qpos_xy,
                      actuators=tuple(model.actuator(i).name or f"actuator {i}" for i in range(model.nu)),
                      action_low=low, action_high=high, action_doc=doc)


def _names(model: Any, objtype: Any, count: int) -> list[str]:
    import mujoco

    return [mujoco.mj_id2name(model, objtype, i) or "" for i in range(count)]


def _ident(name: str) -> str:
    """A model name as a Python identifier (``front-left.toe`` → ``front_left_toe``)."""
    ident = re.sub(r"\W", "_", name).strip("_") or "part"
    return f"p_{ident}" if ident[0].isdigit() else ident


Part = tuple[int, tuple[int, ...] | None]
"""A sensor (its index among the added ones; ``-i - 1``: the model's own sensor ``i``) and which of its elements
(None: all of them)."""
_Sensor = tuple[Any, Any, str, tuple[Any, str] | None, tuple[int, ...] | None]


class _Plan:
    """Decides the fields of a model and the sensors that read them (the model before the sensors are added)."""

    def __init__(self, base: Any, sel: Selection) -> None:
        import mujoco

        self.mj, self.base, self.sel = mujoco, base, sel
        self.sensors: list[_Sensor] = []
        self.pending: list[tuple[StateField, Formula, tuple[Part, ...], float]] = []
        self.root_qpos_xy: tuple[int, ...] = ()
        self.root: int | None = None
        self.bodies = _names(base, mujoco.mjtObj.mjOBJ_BODY, base.nbody)
        self.joints = _names(base, mujoco.mjtObj.mjOBJ_JOINT, base.njnt)
        self.sites = _names(base, mujoco.mjtObj.mjOBJ_SITE, base.nsite)
        self.geoms = _names(base, mujoco.mjtObj.mjOBJ_GEOM, base.ngeom)
        self.own_sensors = _names(base, mujoco.mjtObj.mjOBJ_SENSOR, base.nsensor)
        self.data = mujoco.MjData(base)
        mujoco.mj_forward(base, self.data)
        # plain ints: a numpy int32 is never ``in`` a tuple of MuJoCo's enum members
        self.jtype = [int(t) for t in base.jnt_type]
        self.jbody = [int(b) for b in base.jnt_bodyid]
        J = mujoco.mjtJoint
        self.FREE, self.BALL, self.SLIDE, self.HINGE = (int(J.mjJNT_FREE), int(J.mjJNT_BALL), int(J.mjJNT_SLIDE),
                                                        int(J.mjJNT_HINGE))

    def sensor(self, kind: Any, objtype: Any, name: str, ref: tuple[Any, str] | None = None,
               intprm: tuple[int, ...] | None = None) -> int:
        """Add a sensor (once per kind, object and frame); its index among the added ones."""
        key = (kind, objtype, name, ref, intprm)
        if key not in self.sensors:
            self.sensors.append(key)
        return self.sensors.index(key)

    def add(self, f: StateField, formula: Formula, *parts: Part, sign: float = 1.0) -> None:
        self.pending.append((f, formula, parts, sign))

    def reads(self, model: Any) -> tuple[Read, ...]:
        """Each field's ``sensordata`` elements in the compiled model (its own sensors come first)."""
        first = len(self.own_sensors)
        out = []
        for f, formula, parts, sign in self.pending:
            index: list[int] = []
            for s, elements in parts:
                i = -s - 1 if s < 0 else first + s
                adr, dim = int(model.sensor_adr[i]), int(model.sensor_dim[i])
                index += [adr + e for e in (elements if elements is not None else range(dim))]
            out.append(Read(f, formula, tuple(index), sign))
        return tuple(out)

    # -- the parts ---------------------------------------------------------------------------------
    def run(self) -> None:
        self.root = root = self.root_body()
        if root is not None:
            self.root_fields(root)
        self.joint_fields(root)
        for name in self.sel.bodies:
            self.body_fields(name)
        for name in self.sel.sites if self.sel.sites is not None else [n for n in self.sites if n]:
            self.site_fields(name)
        for name in self.sel.sensors if self.sel.sensors is not None else [n for n in self.own_sensors if n]:
            self.sensor_field(name)
        for name in self.sel.contacts:
            self.contact_fields(name)
        for d in self.sel.distances:
            self.distance_field(d)
        for d in self.sel.offsets:
            self.offset_field(d)

    def root_body(self) -> int | None:
        m = self.base
        if self.sel.root is not None:
            if self.sel.root not in self.bodies[1:]:
                raise _unknown("body", self.sel.root, self.bodies[1:], "root")
            return self.bodies.index(self.sel.root)
        for wanted in (self.FREE, self.SLIDE):
            hit = [self.jbody[j] for j in range(m.njnt) if self.jtype[j] == wanted]
            if hit:
                return min(hit)
        return None

    def root_fields(self, b: int) -> None:
        """Position, height, velocities, up axis, heading and angular velocity of the body that moves the robot."""
        mj, m = self.mj, self.base
        name, xbody, S = self.bodies[b], mj.mjtObj.mjOBJ_XBODY, mj.mjtSensor
        own = [j for j in range(m.njnt) if self.jbody[j] == b]
        free = any(self.jtype[j] == self.FREE for j in own)
        axes: set[int] = {0, 1, 2} if free else set()
        xy: list[int] = []
        for j in own:
            adr = int(m.jnt_qposadr[j])
            if self.jtype[j] == self.FREE:
                xy += [adr, adr + 1]
            elif self.jtype[j] == self.SLIDE:
                axis = np.abs(self.data.xaxis[j])
                if axis.max() > 0.99:  # a slide along a world axis: the body moves along it
                    axes.add(int(axis.argmax()))
                    xy += [adr] if axis.argmax() < 2 else []
        self.root_qpos_xy = tuple(xy)
        pos, vel = self.sensor(S.mjSENS_FRAMEPOS, xbody, name), self.sensor(S.mjSENS_FRAMELINVEL, xbody, name)
        for a in sorted(axes):
            self.translation(name, a, pos, vel)
        if free or any(self.jtype[j] in (self.HINGE, self.BALL) for j in own):
            self.add(StateField(name="up_vector", shape=(3,), unit="1", kind="other", low=-1.0, high=1.0,
                                doc=f"the {name} body's up (z) axis in world coordinates; (0, 0, 1) = upright, "
                                    "up_vector[:, 2] = cosine of the tilt"),
                     "slice", (self.sensor(S.mjSENS_FRAMEZAXIS, xbody, name), None))
            if free:
                # the body's own forward axis is the world's forward at the start (+y: a fish's mouth), and a
                # heading of 0 faces that way: atan2(axis·left, axis·forward)
                letter = self.sel.forward[1]
                own = S.mjSENS_FRAMEXAXIS if letter == "x" else S.mjSENS_FRAMEYAXIS
                axis = self.sensor(own, xbody, name)
                ahead = -1.0 if self.sel.forward[0] == "-" else 1.0
                self.add(StateField(name="heading", shape=(), unit="rad", kind="angle", low=-math.pi, high=math.pi,
                                    doc=f"direction the {name} body faces (its {self.sel.forward} axis) in the "
                                        f"horizontal plane, 0 = forward ({self.sel.forward}), positive = turned "
                                        "counter-clockwise (to the left) seen from above"),
                         "heading", (axis, (0, 1) if letter == "x" else (1, 0)), sign=1.0 if letter == "x" else -1.0)
                self.add(StateField(name="forward_velocity", shape=(), unit="m/s", kind="velocity",
                                    doc=f"velocity of the {name} body along the way it faces (its own "
                                        f"{self.sel.forward} axis), positive = moving the way it faces"),
                         "local", (vel, None), (axis, None), sign=ahead)
            frame: list[Part] = [(self.sensor(kind, xbody, name), None)
                                 for kind in (S.mjSENS_FRAMEXAXIS, S.mjSENS_FRAMEYAXIS, S.mjSENS_FRAMEZAXIS)]
            self.add(StateField(name="angular_velocity", shape=(3,), unit="rad/s", kind="angular_velocity",
                                doc=f"angular velocity of the {name} body about its own x, y, z axes (right-hand "
                                    "rule)"),
                     "local", (self.sensor(S.mjSENS_FRAMEANGVEL, xbody, name), None), *frame)

    def translation(self, name: str, a: int, pos: int, vel: int) -> None:
        """The fields of one world axis the root moves along: x/y position and velocity, or height and z velocity."""
        if a == 2:
            self.add(StateField(name=f"{_ident(name)}_height", shape=(), unit="m", kind="height",
                                doc=f"height of the {name} body's origin above z = 0 (the floor)"), "slice", (pos, (2,)))
            self.add(StateField(name="z_velocity", shape=(), unit="m/s", kind="velocity",
                                doc=f"vertical velocity of the {name} body, positive = moving up"), "slice", (vel, (2,)))
            return
        letter = "xy"[a]
        fwd_axis, fwd_sign = {"+x": (0, 1), "-x": (0, -1), "+y": (1, 1), "-y": (1, -1)}[self.sel.forward]
        if a == fwd_axis:
            word, sign = ("forward" if fwd_sign > 0 else "backward"), fwd_sign
            where = f"; {'+' if fwd_sign > 0 else '-'}{letter} is forward"
        else:  # the other horizontal axis, named as seen facing forward (z up, right-handed)
            left = (a == 1) == (fwd_sign > 0) if fwd_axis == 0 else (a == 0) != (fwd_sign > 0)
            word, sign, where = ("left" if left else "right"), 0, ""
        self.add(StateField(name=f"{letter}_position", shape=(), unit="m", kind="position",
                            doc=f"{letter} position of the {name} body in the world frame{where}"), "slice", (pos, (a,)))
        self.add(StateField(name=f"{letter}_velocity", shape=(), unit="m/s", kind="velocity", forward_sign=sign,
                            doc=f"velocity of the {name} body along world {letter}, positive = moving {word}"),
                 "slice", (vel, (a,)))

    def joint_fields(self, root: int | None) -> None:
        """``joint_pos``/``joint_vel`` of the hinges, ``slide_pos``/``slide_vel`` of the slides, in the model's order."""
        mj, m = self.mj, self.base
        hinge, slide = self.HINGE, self.SLIDE
        if self.sel.joints is None:
            chosen = [j for j in range(m.njnt) if self.jtype[j] in (hinge, slide) and self.jbody[j] != root]
            if any(not self.joints[j] for j in chosen):
                raise TaskError("field 'state.joints': a hinge or slide joint of the model has no name; name it in "
                                "the model, or list the joints you want in [state] joints")
        else:
            chosen = []
            for name in self.sel.joints:
                if name not in self.joints:
                    raise _unknown("joint", name, self.joints, "joints")
                j = self.joints.index(name)
                if self.jtype[j] not in (hinge, slide):
                    raise TaskError(f"field 'state.joints': joint {name!r} is a free or ball joint; list hinge and "
                                    "slide joints (a free body's motion is the root's fields)")
                chosen.append(j)
        for kind, prefix, unit, word in ((hinge, "joint", "rad", "angles"), (slide, "slide", "m", "positions")):
            js = [j for j in chosen if self.jtype[j] == kind]
            if not js:
                continue
            names = [self.joints[j] for j in js]
            limits = {(float(m.jnt_range[j][0]), float(m.jnt_range[j][1])) for j in js if m.jnt_limited[j]}
            low, high = next(iter(limits)) if len(limits) == 1 and all(m.jnt_limited[j] for j in js) else (None, None)
            obj = mj.mjtObj.mjOBJ_JOINT
            pos = [(self.sensor(mj.mjtSensor.mjSENS_JOINTPOS, obj, n), None) for n in names]
            vel = [(self.sensor(mj.mjtSensor.mjSENS_JOINTVEL, obj, n), None) for n in names]
            self.add(StateField(name=f"{prefix}_pos", shape=(len(js),), unit=unit, low=low, high=high,
                                kind="angle" if kind == hinge else "position",
                                doc=f"{'hinge' if kind == hinge else 'slide'} joint {word}: {', '.join(names)}"), "slice", *pos)
            self.add(StateField(name=f"{prefix}_vel", shape=(len(js),), unit=f"{unit}/s",
                                kind="angular_velocity" if kind == hinge else "velocity",
                                doc=f"joint velocities, same order as {prefix}_pos"), "slice", *vel)

    def body_fields(self, name: str) -> None:
        mj = self.mj
        if name not in self.bodies[1:]:
            raise _unknown("body", name, self.bodies[1:], "bodies")
        B, xbody = _ident(name), mj.mjtObj.mjOBJ_XBODY
        pos = self.sensor(mj.mjtSensor.mjSENS_FRAMEPOS, xbody, name)
        self.add(StateField(name=f"{B}_position", shape=(3,), unit="m", kind="position",
                            doc=f"x, y, z of the {name} body's origin in the world frame (z up)"), "slice", (pos, None))
        self.add(StateField(name=f"{B}_height", shape=(), unit="m", kind="height",
                            doc=f"height of the {name} body's origin above z = 0 (the floor)"), "slice", (pos, (2,)))
        self.add(StateField(name=f"{B}_velocity", shape=(3,), unit="m/s", kind="velocity",
                            doc=f"velocity of the {name} body's origin in the world frame"),
                 "slice", (self.sensor(mj.mjtSensor.mjSENS_FRAMELINVEL, xbody, name), None))

    def site_fields(self, name: str) -> None:
        mj = self.mj
        if name not in self.sites:
            raise _unknown("site", name, self.sites, "sites")
        self.add(StateField(name=f"{_ident(name)}_position", shape=(3,), unit="m", kind="position",
                            doc=f"x, y, z of the {name} site in the world frame (z up)"),
                 "slice", (self.sensor(mj.mjtSensor.mjSENS_FRAMEPOS, mj.mjtObj.mjOBJ_SITE, name), None))

    def sensor_field(self, name: str) -> None:
        if name not in self.own_sensors:
            raise _unknown("sensor", name, self.own_sensors, "sensors")
        i = self.own_sensors.index(name)
        kind = self.mj.mjtSensor(int(self.base.sensor_type[i])).name
        unit, fkind, frame = _SENSOR_UNITS.get(kind, ("1", "other", ""))
        dim = int(self.base.sensor_dim[i])
        self.add(StateField(name=_ident(name), shape=() if dim == 1 else (dim,), unit=unit, kind=fkind,
                            doc=f"the model's {kind.removeprefix('mjSENS_').lower()} sensor {name!r}{frame}"
                                f"{self.turning(i, kind)}"),
                 "slice", (-i - 1, None))

    def turning(self, i: int, kind: str) -> str:
        """The sign convention of a hinge's angle or rate sensor, where the hinge turns about a world axis at the start."""
        if kind not in ("mjSENS_JOINTPOS", "mjSENS_JOINTVEL"):
            return ""
        j = int(self.base.sensor_objid[i])
        axis = self.data.xaxis[j]
        if self.jtype[j] != self.HINGE or np.abs(axis).max() < 0.99:
            return ""
        a = int(np.abs(axis).argmax())
        side = f"{'+' if axis[a] > 0 else '-'}{'xyz'[a]}"
        moving = "; in the initial pose" if self.base.body_parentid[self.jbody[j]] != 0 else ""
        return f", positive = turning counter-clockwise seen from {side}{moving}"

    def contact_fields(self, name: str) -> None:
        """A contact flag and the net contact force of a body or geom, from one MuJoCo contact sensor."""
        mj = self.mj
        if name in self.bodies[1:]:
            objtype = mj.mjtObj.mjOBJ_BODY
        elif name in self.geoms:
            objtype = mj.mjtObj.mjOBJ_GEOM
        else:
            raise _unknown("body or geom", name, [*self.bodies[1:], *self.geoms], "contacts")
        data = (1 << int(mj.mjtConDataField.mjCONDATA_FOUND)) | (1 << int(mj.mjtConDataField.mjCONDATA_FORCE))
        netforce = 3  # mjtConReduce: none, mindist, maxforce, netforce (every contact's force summed)
        s = self.sensor(mj.mjtSensor.mjSENS_CONTACT, objtype, name, None, (data, netforce, 1))
        C = _ident(name)
        self.add(StateField(name=f"{C}_contact", shape=(), unit="1", kind="other", low=0.0, high=1.0,
                            doc=f"1 while the {name} touches anything, else 0"), "flag", (s, (0,)))
        self.add(StateField(name=f"{C}_contact_force", shape=(), unit="N", kind="other",
                            doc=f"magnitude of the net contact force on the {name}"), "norm", (s, (1, 2, 3)))

    def distance_field(self, d: Distance) -> None:
        self.add(StateField(name=d.name or f"{_ident(d.a)}_to_{_ident(d.b)}", shape=(), unit="m", kind="distance",
                            low=0.0, target=0.0, target_kind="hold", doc=f"distance from the {d.a} to the {d.b}"),
                 "distance", (self.point(d.a), None), (self.point(d.b), None))

    def offset_field(self, d: Distance) -> None:
        """MuJoCo's ``framepos`` of ``b`` with ``a`` as its reference frame: ``b - a`` in ``a``'s axes."""
        ref = (self.object(d.a, "offsets"), d.a)
        self.add(StateField(name=d.name or f"{_ident(d.b)}_from_{_ident(d.a)}", shape=(3,), unit="m", kind="position",
                            target=0.0, target_kind="hold",
                            doc=f"where the {d.b} is as seen from the {d.a}: its x, y, z in the {d.a}'s own frame "
                                f"(0 = at the {d.a})"),
                 "slice", (self.sensor(self.mj.mjtSensor.mjSENS_FRAMEPOS, self.object(d.b, "offsets"), d.b, ref), None))

    def point(self, name: str) -> int:
        return self.sensor(self.mj.mjtSensor.mjSENS_FRAMEPOS, self.object(name, "distances"), name)

    def object(self, name: str, key: str) -> Any:
        """The MuJoCo object type of a named site, body or geom (looked up in that order)."""
        mj = self.mj
        for names, objtype in ((self.sites, mj.mjtObj.mjOBJ_SITE), (self.bodies[1:], mj.mjtObj.mjOBJ_XBODY),
                               (self.geoms, mj.mjtObj.mjOBJ_GEOM)):
            if name in names:
                return objtype
        raise _unknown("site, body or geom", name, [*self.sites, *self.bodies[1:], *self.geoms], key)


_SENSOR_UNITS: Mapping[str, tuple[str, FieldKind, str]] = {
    "mjSENS_TOUCH": ("N", "other", " (normal contact force in its site's volume)"),
    "mjSENS_ACCELEROMETER": ("m/s²", "other", " (in its site's frame)"),
    "mjSENS_VELOCIMETER": ("m/s", "velocity", " (in its site's frame)"),
    "mjSENS_GYRO": ("rad/s", "angular_velocity", " (in its site's frame)"),
    "mjSENS_FORCE": ("N", "other", " (in its site's frame)"),
    "mjSENS_TORQUE": ("N·m", "other", " (in its site's frame)"),
    "mjSENS_MAGNETOMETER": ("T", "other", " (in its site's frame)"),
    "mjSENS_RANGEFINDER": ("m", "distance", " (distance along its site's z axis, -1 = nothing hit)"),
    "mjSENS_JOINTPOS": ("rad", "angle", ""),
    "mjSENS_JOINTVEL": ("rad/s", "angular_velocity", ""),
    "mjSENS_TENDONPOS": ("m", "position", ""),
    "mjSENS_TENDONVEL": ("m/s", "velocity", ""),
    "mjSENS_FRAMEPOS": ("m", "position", " (world frame unless it names a reference)"),
    "mjSENS_FRAMELINVEL": ("m/s", "velocity", " (world frame unless it names a reference)"),
    "mjSENS_FRAMEANGVEL": ("rad/s", "angular_velocity", " (world frame unless it names a reference)"),
    "mjSENS_FRAMEXAXIS": ("1", "other", " (unit vector, world frame)"),
    "mjSENS_FRAMEYAXIS": ("1", "other", " (unit vector, world frame)"),
    "mjSENS_FRAMEZAXIS": ("1", "other", " (unit vector, world frame)"),
    "mjSENS_FRAMEQUAT": ("1", "other", " (unit quaternion w, x, y, z)"),
    "mjSENS_SUBTREECOM": ("m", "position", " (centre of mass of a subtree, world frame)"),
    "mjSENS_SUBTREELINVEL": ("m/s", "velocity", " (velocity of a subtree's centre of mass, world frame)"),
    "mjSENS_ACTUATORFRC": ("N or N·m", "other", ""),
    "mjSENS_CLOCK": ("s", "other", ""),
}


def _actuators(model: Any) -> tuple[tuple[float, ...], tuple[float, ...], str]:
    """The action box from the actuators' control ranges, and a line naming them."""
    import mujoco

    if model.nu == 0:
        raise TaskError("the model has no actuators: there is nothing for a policy to control")
    names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, i) or f"actuator {i}" for i in range(model.nu)]
    unlimited = [n for i, n in enumerate(names) if not model.actuator_ctrllimited[i]]
    if unlimited:
        raise TaskError(f"actuator {unlimited[0]!r} has no control range; give it one in the model "
                        "(ctrlrange=\"-1 1\"), so the policy's actions have bounds")
    low = tuple(float(v) for v in model.actuator_ctrlrange[:, 0])
    high = tuple(float(v) for v in model.actuator_ctrlrange[:, 1])
    ranges = "" if len(set(low)) == 1 and len(set(high)) == 1 else " with ranges " + ", ".join(
        f"[{lo:g}, {hi:g}]" for lo, hi in zip(low, high, strict=True))
    return low, high, f"controls of the {model.nu} actuators, in order: {', '.join(names)}{ranges}"
