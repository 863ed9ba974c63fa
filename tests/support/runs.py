"""Helpers for tests that work on a recorded run directory."""

from __future__ import annotations

from pathlib import Path


def copy_run(template: Path, dest_parent: Path) -> Path:
    """A private copy of a run directory (same name) under ``dest_parent``."""
    import shutil

    dest = dest_parent / template.name
    shutil.copytree(template, dest)
    return dest
