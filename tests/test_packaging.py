"""The distribution: one ``rewardsmith`` name in site-packages, a base install without the extras.

The wheel is built from a copy of the checkout (setuptools writes ``build/`` beside the sources) and its
file list read back; the slow test installs it into an empty virtualenv and runs the CLI there.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rewardsmith.agent.app.cli import main
from rewardsmith.agent.records.config import RunConfig
from rewardsmith.core.extras import JAX_MODULES, UI_MODULES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("core", "sandboxes", "envs", "agent", "prompts")
GENERIC_NAMES = {*PACKAGE_DIRS, "tests", "bench"}
EXTRAS_ONLY = {"litellm", "openai", "fastapi", "uvicorn", "python-multipart", "pygments", "jax", "jaxlib", "ray",
               "pytest", "playwright", "gymnax", "flax", "optax"}


def _copy_sources(dest: Path) -> Path:
    skip = shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info", "__pycache__",
                                  ".typecheck", ".mypy_cache", ".ruff_cache", ".pytest_cache", "MUJOCO_LOG.TXT")
    shutil.copytree(ROOT, dest, ignore=skip, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = _copy_sources(tmp / "src")
    code = "import sys; from setuptools.build_meta import build_wheel; print(build_wheel(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(tmp / "out")], cwd=src, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "out" / done.stdout.strip().splitlines()[-1]


def _metadata(whl: zipfile.ZipFile) -> email.message.Message:
    name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    return email.message_from_bytes(whl.read(name))


def test_the_wheel_claims_one_top_level_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        tops = {n.split("/")[0] for n in whl.namelist()}
    assert tops == {"rewardsmith", "rewardsmith-0.1.0.dist-info"}


def test_the_wheel_holds_every_module_and_data_file_of_the_checkout(wheel: Path) -> None:
    """A subpackage missing from pyproject.toml's ``packages`` list would be silently left out."""
    wanted = {"rewardsmith/__init__.py", "rewardsmith/__main__.py"}
    for top in PACKAGE_DIRS:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in {".py", ".toml", ".j2", ".html"}:
                wanted.add(f"rewardsmith/{path.relative_to(ROOT).as_posix()}")
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        entry_points = next(whl.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert sorted(wanted - names) == []
    assert "rewardsmith/envs/tasks/hopper.toml" in names and "rewardsmith/prompts/initial.j2" in names
    assert "rewardsmith = rewardsmith.agent.app.cli:main" in entry_points


def test_the_base_install_leaves_the_extras_out(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        meta = _metadata(whl)
    requires = meta.get_all("Requires-Dist") or []
    base = {r.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
            for r in requires if "extra ==" not in r}
    assert {"torch", "stable-baselines3", "gymnasium", "jinja2", "rich"} <= base
    assert base & EXTRAS_ONLY == set()
    assert {"llm", "ui", "jax", "ray", "dev"} <= set(meta.get_all("Provides-Extra") or [])


@pytest.mark.parametrize(("argv", "blocked", "expected"), [
    (["run", "cartpole", "--designer", "openai/gpt-4o-mini"], ["litellm"],
     "--designer openai/gpt-4o-mini needs the 'llm' extra (litellm not installed): pip install 'rewardsmith[llm]'"),
    (["ui"], ["fastapi"], "rewardsmith ui needs the 'ui' extra (fastapi not installed): pip install 'rewardsmith[ui]'"),
    (["run", "cartpole", "--backend", "jax"], ["jax"], "--backend jax needs the 'jax' extra (jax not installed)"),
    (["run", "cartpole", "--executor", "ray"], ["ray"], "--executor ray needs the 'ray' extra (ray not installed)"),
    (["run", "cartpole", "--review", "web"], ["fastapi"], "--review web (reviewed in rewardsmith ui) needs the 'ui' extra"),
])
def test_a_feature_without_its_extra_is_one_line_that_says_what_to_install(
        argv: list[str], blocked: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in blocked:  # None in sys.modules: find_spec says absent, import raises ImportError
        monkeypatch.setitem(sys.modules, name, None)
    code = main([*argv, "--out", str(tmp_path)] if argv[0] == "run" else argv)
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith(f"error: {expected}") and "\n" not in err
    assert list(tmp_path.iterdir()) == []  # nothing was started


def test_backend_auto_without_jax_trains_with_sb3(monkeypatch: pytest.MonkeyPatch) -> None:
    from rewardsmith.agent.train.backends import resolve_backend
    from rewardsmith.envs.tasks import load_task

    monkeypatch.setitem(sys.modules, "jax", None)
    config, backend, line = resolve_backend(load_task("cartpole"), RunConfig(task="cartpole", backend="auto"))
    assert config.backend == backend.name == "sb3" and "JAX is not installed" in line
    assert "jax" in JAX_MODULES and "fastapi" in UI_MODULES


@pytest.mark.slow
def test_pip_install_into_an_empty_virtualenv_runs_cartpole(tmp_path: Path) -> None:
    """``pip install .`` (the base install, no extras) into a fresh venv; then ``rewardsmith run cartpole``."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py, pip = venv / "bin" / "python", [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                                        "--disable-pip-version-check", "-c", str(ROOT / "constraints.txt")]
    subprocess.run([*pip, "torch==2.13.0"], check=True, timeout=1200)
    subprocess.run([*pip, str(_copy_sources(tmp_path / "src"))], check=True, timeout=1200)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    assert {p.name for p in site.iterdir()} & GENERIC_NAMES == set()
    for absent in ("litellm", "fastapi", "jax", "ray"):
        assert not (site / absent).exists(), absent
    work = tmp_path / "work"  # not the checkout: nothing may come from the source tree
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"COLUMNS": "200"}
    cli = str(venv / "bin" / "rewardsmith")
    probe = subprocess.run([str(py), "-c", "import agent"], cwd=work, env=env, capture_output=True, timeout=60)
    assert probe.returncode != 0
    done = subprocess.run([cli, "run", "cartpole", "--rounds", "1", "--samples", "2", "--steps", "2048",
                           "--no-baselines", "--final-seeds", "0", "--workers", "1", "--out", str(work / "runs")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = next((work / "runs").iterdir())
    assert (run_dir / "best_reward.py").exists()
    llm = subprocess.run([cli, "run", "cartpole", "--designer", "openai/gpt-4o-mini"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=120)
    assert llm.returncode != 0 and "pip install 'rewardsmith[llm]'" in llm.stderr
    # The sandbox of an installed RewardSmith shows the worker its own modules and nothing else of the package.
    look = ("import subprocess, sys; from rewardsmith.sandboxes.isolation import PROJECT_ROOT, detect_isolation\n"
            "iso = detect_isolation()\n"
            "code = f'import os; print(os.path.exists({str(PROJECT_ROOT / \"envs\" / \"fitness.py\")!r}))'\n"
            "out = subprocess.run([*iso.wrap([sys.executable, '-c', code])], env=iso.child_env(), capture_output=True,"
            " text=True, timeout=30)\n"
            "print(iso.level, out.stdout.strip())\n")
    seen = subprocess.run([str(py), "-c", look], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    level, visible = seen.stdout.split()
    assert level != "bubblewrap" or visible == "False"
