"""RewardSmith: every module lives under this one name (``rewardsmith.agent``, ``rewardsmith.envs``, ...).

Installed, the distribution holds ``rewardsmith/{core,sandboxes,envs,agent,prompts}`` and nothing else at
the top level (pyproject.toml maps the repository's top-level folders there with ``package-dir``). In a
source checkout those folders stay where the design card puts them, beside this package; the checkout's
root then joins this package's ``__path__``, so ``rewardsmith.agent`` is ``agent/`` with or without an
install, and the same files are never importable under two names.
"""

from __future__ import annotations

from pathlib import Path

_here = Path(__file__).resolve().parent
if not (_here / "agent").is_dir() and (_here.parent / "agent" / "__init__.py").is_file():
    __path__.append(str(_here.parent))
