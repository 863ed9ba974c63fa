"""A small MuJoCo model the repository has never seen, and a task file on it, written as a user would.

A planar walker (a torso on slide x / slide z / hinge y, two legs, a nose site with a touch sensor, a flag site),
its own reward file and a task file naming them (docs/your-own-robot.md): the model-task tests of every backend
write them into a temporary folder with :func:`write_task`.
"""

from __future__ import annotations

from pathlib import Path

WALKER_XML = """<mujoco model="walker">
  <option timestep="0.005"/>
  <worldbody>
    <geom name="floor" type="plane" size="40 40 0.1"/>
    <body name="torso" pos="0 0 0.6">
      <joint name="rootx" type="slide" axis="1 0 0"/>
      <joint name="rootz" type="slide" axis="0 0 1"/>
      <joint name="rooty" type="hinge" axis="0 1 0"/>
      <geom name="torso_geom" type="capsule" fromto="-0.2 0 0 0.2 0 0" size="0.05"/>
      <site name="nose" pos="0.25 0 0" size="0.02"/>
      <body name="front_leg" pos="0.2 0 0">
        <joint name="front_hip" type="hinge" axis="0 1 0" range="-45 45"/>
        <geom name="front_shin" type="capsule" fromto="0 0 0 0 0 -0.5" size="0.04"/>
        <body name="front_foot" pos="0 0 -0.5"><geom name="front_foot_geom" type="sphere" size="0.05"/></body>
      </body>
      <body name="back_leg" pos="-0.2 0 0">
        <joint name="back_hip" type="hinge" axis="0 1 0" range="-45 45"/>
        <geom name="back_shin" type="capsule" fromto="0 0 0 0 0 -0.5" size="0.04"/>
      </body>
    </body>
    <site name="flag" pos="3 0 0.1" size="0.05"/>
  </worldbody>
  <actuator>
    <motor name="front" joint="front_hip" gear="30" ctrlrange="-1 1"/>
    <motor name="back" joint="back_hip" gear="30" ctrlrange="-1 1"/>
  </actuator>
  <sensor><touch name="nose_touch" site="nose"/></sensor>
</mujoco>
"""

OWN_REWARD = """import numpy as np


def compute_reward(state, action):
    forward = state.x_velocity
    alive = state.healthy
    ctrl = -0.1 * np.sum(np.square(action), axis=1)
    return forward + alive + ctrl, {"forward": forward, "alive": alive, "ctrl": ctrl}
"""

TASK = """name = "walker-forward"
model = "walker.xml"
description = "Make the two-legged walker walk forward (+x) as fast as it can without falling."
fitness = "forward_distance"

[physics]
frame_skip = 4
reset_noise = 0.05
max_steps = 100
terminate_when = "torso_height < 0.3 or abs(up_vector[0]) > 0.8"
reward = "own_reward.py"

[state]
bodies = ["front_foot"]
contacts = ["front_foot"]
distances = [["nose", "flag"]]
offsets = [["nose", "flag"]]

[train]
steps = 256
n_envs = 2
timeout_s = 300
ppo = { n_steps = 64, batch_size = 64, n_epochs = 1 }

[eval]
selection_episodes = 1
heldout_episodes = 1
"""

REWARD = """import numpy as np


def compute_reward(state, action):
    forward = state.x_velocity
    upright = 0.5 * state.up_vector[:, 2]
    return forward + upright, {"forward": forward, "upright": upright}
"""


def write_task(folder: Path, task: str = TASK, xml: str = WALKER_XML) -> Path:
    (folder / "walker.xml").write_text(xml)
    (folder / "own_reward.py").write_text(OWN_REWARD)
    (folder / "task.toml").write_text(task)
    return folder / "task.toml"
