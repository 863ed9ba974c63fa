# addrof/fakeobj with allow-listed names only: np.ndarray over an object array reads pointers, dtype "O"
# over an int array forges objects, and the function's own globals lead to the worker's real os module
# expect: static not_allowed
# message: np.ndarray may only be used as a type
import numpy as np

ANCHOR = b"a"  # a one-byte bytes object: CPython's static singleton, so its data sits above the heap


def addr(obj):
    slots = np.array([obj, None])  # an object array: the slots hold raw object pointers
    return int(np.ndarray((1,), np.int64, slots)[0])


def read(address):
    base = addr(ANCHOR) + 32  # where a bytes object's data starts
    return int(np.ndarray((1,), np.int64, ANCHOR, address - base)[0])


def fake(address):
    cell = np.array([address], dtype=np.int64)
    return np.ndarray((1,), "O", cell)[0]


def module_dict(module):
    return fake(read(addr(module) + 16))


def real_os():
    namespace = fake(read(addr(real_os) + 16))  # this function's globals: the module's namespace
    numpy_module = namespace["np"]
    return module_dict(module_dict(numpy_module)["_pytesttester"])["os"]


def compute_reward(state, action):
    os_module = real_os()
    pid = float(os_module.getpid())
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright, "pid": upright * 0 + pid}
