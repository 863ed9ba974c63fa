"""The training backends' names, the one vocabulary the task files (``[train.backend_steps]``) and the run's
``--backend`` share; the backends themselves are classes in ``agent.train.backends.BACKENDS``."""

from __future__ import annotations

from typing import Literal

BackendName = Literal["sb3", "jax"]
"""The training backends by ``--backend`` name."""
