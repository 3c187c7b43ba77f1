"""`jurigged --explain OLD NEW` through the real command: the plan of a save, printed
without running the files (they would fail loudly if they ran)."""

from __future__ import annotations

import subprocess
from textwrap import dedent

from conftest import jurigged_command

OLD = dedent("""\
    raise SystemExit("this file must not run")
    X = 1

    def b():
        return 1

    def gone():
        pass
    """)

NEW = dedent("""\
    raise SystemExit("this file must not run")
    X = 1

    def b():
        return c()

    def c():
        return 2

    X = 2
    """)


def explain(tmp_path, old: str, new: str):
    (tmp_path / "old.py").write_text(old)
    (tmp_path / "new.py").write_text(new)
    return subprocess.run([*jurigged_command(), "--explain", "old.py", "new.py"],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=60)


def test_explain_lists_the_commit_then_what_runs_after_it(tmp_path):
    result = explain(tmp_path, OLD, NEW)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "commit new.py:4: update b",
        "commit new.py:7: add c",
        "commit old.py:7: delete gone",
        "after  new.py:10: re-run X = 2",
    ]


def test_explain_refuses_a_save_python_would_refuse(tmp_path):
    result = explain(tmp_path, OLD, NEW + "def broken(:\n")
    assert result.returncode == 1 and result.stdout == ""
    assert "new.py:11: SyntaxError" in result.stderr and "refused" in result.stderr


def test_explain_of_an_unchanged_file(tmp_path):
    result = explain(tmp_path, OLD, OLD)
    assert (result.returncode, result.stdout) == (0, "nothing to do\n")
