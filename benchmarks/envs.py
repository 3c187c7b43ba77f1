"""The two virtual environments the benchmarks compare, built with one interpreter.

- `original`: jurigged 0.6.1 from PyPI (the reference implementation);
- `ours`: this repository, installed with `pip install <repo root>`.

They live under benchmarks/.venvs/ (git-ignored) and are reused while still valid:
made by the same interpreter, the original's as long as it holds 0.6.1, ours as long
as the sources it was built from (src/, engine/, CMakeLists.txt, pyproject.toml)
hash the same.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import List

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENVS = HERE / ".venvs"
ORIGINAL_SPEC = "jurigged==0.6.1"
STAMP = ".bench-stamp"
OUR_SOURCES = ("src", "engine", "CMakeLists.txt", "pyproject.toml")


@dataclass
class Tool:
    """How to run a program under one reloader (or under none, for `plain`)."""

    name: str
    python: Path
    prefix: List[str]  # argv before the program path

    def argv(self, program: str, *args: str) -> List[str]:
        return [*self.prefix, program, *args]


def _sources_hash() -> str:
    digest = hashlib.sha256()
    for top in OUR_SOURCES:
        path = ROOT / top
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _python(env: Path) -> Path:
    return env / "bin" / "python"


def _ensure(env: Path, stamp: str, install: List[str], log) -> None:
    # A venv made by another interpreter than the one running us is not reused.
    stamp = f"{sys.executable} {sys.version}\n{stamp}"
    stamp_file = env / STAMP
    if stamp_file.exists() and stamp_file.read_text() == stamp and _python(env).exists():
        return
    log(f"[envs] creating {env.relative_to(ROOT)} ({' '.join(install)})")
    venv.EnvBuilder(clear=True, with_pip=True).create(env)
    # One build job: the machine is shared and has two cores.
    environment = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL="1", MAKEFLAGS="-j1",
                       PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run([str(_python(env)), "-m", "pip", "install", "-q", *install],
                            env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(install)} failed:\n"
                           f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
    stamp_file.write_text(stamp)


def ensure_original(log=print) -> Path:
    env = VENVS / "original"
    _ensure(env, ORIGINAL_SPEC, [ORIGINAL_SPEC], log)
    return env


def ensure_ours(log=print) -> Path:
    env = VENVS / "ours"
    _ensure(env, _sources_hash(), [str(ROOT)], log)
    return env


def tools(debounce: float, log=print) -> dict:
    """{"plain", "original", "ours", "ours-default"} -> Tool. Both reloaders get the
    same debounce, except "ours-default" (ours with its default: none)."""
    original, ours = ensure_original(log), ensure_ours(log)
    flags = ["-d", str(debounce)]
    return {
        # Plain Python from the same venv layout (site-packages on the path, like
        # the reloaders), with nothing imported besides the program.
        "plain": Tool("plain", _python(original), [str(_python(original))]),
        "original": Tool("original", _python(original),
                         [str(original / "bin" / "jurigged"), *flags]),
        "ours": Tool("ours", _python(ours), [str(ours / "bin" / "jurigged"), *flags]),
        # Ours as users run it: no debounce (a complete save is applied at once).
        "ours-default": Tool("ours", _python(ours), [str(ours / "bin" / "jurigged")]),
    }


def describe(tool: Tool) -> str:
    """The installed jurigged version with what matters about it: for the original,
    the versions of the libraries it runs on (pip picks the newest allowed); for
    ours, whether its C++ source model is in the build."""
    code = """
import importlib.metadata as m
parts = [m.version("jurigged")]
if tool == "ours":
    try:
        import jurigged._core as core
        core.parse
        parts.append("(source model present)")
    except Exception as error:
        parts.append(f"(no source model: {type(error).__name__})")
else:
    deps = ", ".join(f"{d} {m.version(d)}" for d in ("codefind", "watchdog", "ovld"))
    parts.append(f"({deps})")
print(" ".join(parts))
"""
    result = subprocess.run([str(tool.python), "-c", f"tool = {tool.name!r}\n{code}"],
                            capture_output=True, text=True)
    lines = (result.stdout.strip() or result.stderr.strip()).splitlines()
    return lines[-1] if lines else "?"


if __name__ == "__main__":
    for tool in list(tools(0.05).values())[:3]:
        print(tool.name, describe(tool))
    sys.exit(0)
