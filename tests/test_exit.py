"""A program that ends while jurigged is applying a save ends with its own status:
never SIGABRT from the engine's threads being torn down under it."""

from __future__ import annotations

from textwrap import dedent

APP = dedent("""\
    import time, lib
    with open("lib.py", "w") as out:
        out.write("def f():\\n    return 2\\n"
                  + "".join(f"def g{i}():\\n    return {i}\\n" for i in range(2000)))
    end = time.monotonic() + 0.05  # exit while the save is being applied
    while time.monotonic() < end:
        pass
    raise SystemExit(3)
    """)


def test_exit_during_a_save_keeps_the_program_status(run_jurigged, tmp_path):
    (tmp_path / "app.py").write_text(APP)
    for _ in range(10):
        (tmp_path / "lib.py").write_text("def f():\n    return 1\n")
        process = run_jurigged("-v", "app.py")
        assert process.wait(timeout=60) == 3, process.output()
        assert "terminate called" not in process.output()
