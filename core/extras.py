"""Optional parts of RewardSmith and the extras that install them (pyproject.toml's optional-dependencies).

The base install runs the offline designer, the SB3 backend and the CLI. A feature that needs an extra
calls :func:`require_extra` before it imports anything from it, so a missing package is one line that
says what to install, not an ImportError from deep inside a run.
"""

from __future__ import annotations

import importlib.util

from rewardsmith.core.errors import ConfigError

UI_MODULES = ("fastapi", "uvicorn", "multipart", "pygments")
"""What ``rewardsmith ui`` imports (the ``ui`` extra)."""
JAX_MODULES = ("jax", "optax", "flax", "gymnax", "distrax")
"""What the JAX backend imports (the ``jax`` extra)."""


def missing_modules(*modules: str) -> list[str]:
    """Those of ``modules`` (top-level import names) that cannot be imported here."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require_extra(extra: str, feature: str, *modules: str) -> None:
    """Raise a one-line ConfigError when any of ``modules`` is missing; ``feature`` says what needs them."""
    missing = missing_modules(*modules)
    if missing:
        raise ConfigError(f"{feature} needs the '{extra}' extra ({', '.join(missing)} not installed): "
                          f"pip install 'rewardsmith[{extra}]'")
