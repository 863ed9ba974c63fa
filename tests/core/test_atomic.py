"""Atomic writes leave files as readable as any other file the user makes (mkstemp alone gives 0600)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from rewardsmith.core.atomic import write_json, write_text

ROOT = Path(__file__).resolve().parents[2]


def test_written_files_follow_the_umask_not_mkstemps_0600(tmp_path: Path) -> None:
    write_text(tmp_path / "a.txt", "x")
    write_json(tmp_path / "b.json", {"k": 1})
    mask = os.umask(0o022)
    os.umask(mask)
    for name in ("a.txt", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask
    # a stricter umask is honoured (a child process, so this test's own umask stays as it was)
    code = f"import os; os.umask(0o077); from rewardsmith.core.atomic import write_text; from pathlib import Path; " \
           f"write_text(Path({str(tmp_path / 'c.txt')!r}), 'y')"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)
    assert stat.S_IMODE((tmp_path / "c.txt").stat().st_mode) == 0o600
