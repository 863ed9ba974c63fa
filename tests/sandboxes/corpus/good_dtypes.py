# every plain way of naming a real number dtype stays allowed, as do np.ndarray/np.dtype as types
# expect: probe ok
import numpy as np


def as_float(x: np.ndarray) -> np.ndarray:
    if isinstance(x, (np.ndarray, float)):
        return np.asarray(x, dtype=np.float64)
    return np.asarray(x, np.float64)


def compute_reward(state, action) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    angle = as_float(state.pole_angle)
    near: np.ndarray = (np.abs(angle) < 0.1).astype(float)
    bonus = np.zeros(angle.shape, dtype="float32") + np.ones_like(angle, dtype=angle.dtype)
    counted = np.sum(near, 0, np.int64) * np.ones(len(angle), bool)
    scaled = near.astype(np.float32).astype("f8") * np.float64(0.5) + np.cos(angle).sum(0, None) * 0.0
    width = np.dtype("float64").itemsize
    upright = np.cos(angle).astype(angle.dtype) * (width / 8) + 0.01 * np.add.reduce(np.stack([bonus, scaled]), 0, np.float64)
    return upright + 0.0 * counted, {"upright": upright, "counted": 0.0 * counted}
