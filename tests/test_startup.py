"""Start-up cost that a watching program must not pay: modules the common path of the
`jurigged` command does not need stay unimported until the program has started."""

from __future__ import annotations

import subprocess
import sys
from textwrap import dedent

from live_support import probe_loop, start_probe_loop

# Each costs milliseconds (re and argparse also ~1.5 MB) of every start: pip's
# entry-point wrapper imported re, the option parser argparse, -m's importlib.util.
UNNEEDED = ("argparse", "re", "enum", "typing", "dataclasses", "inspect", "ast",
            "importlib.util", "importlib.metadata", "tomllib", "json")


def test_common_options_start_the_program_without_unneeded_modules(run_jurigged, tmp_path):
    # What was imported when the program began, and a save still applied: the options
    # parsed by hand are the ones that take effect (-d 0 applies at once, -w watches).
    setup = f"at_start = sorted(m for m in {UNNEEDED!r} if m in sys.modules)"
    # Those that plain python imports here too (a .pth file of the environment) are
    # not ours to avoid.
    plain = subprocess.run([sys.executable, "-c", f"import sys\n{setup}\nprint(at_start)"],
                           cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    expected = plain.stdout.strip()
    lib = dedent("""\
    def f():
        return 1
    """)
    program = probe_loop("(lib.f(), at_start)", setup=setup)
    process = start_probe_loop(run_jurigged, tmp_path, program, {"lib.py": lib},
                               "-d", "0", "-w", "lib.py")
    process.expect(f"R (1, {expected})", stream="out")
    (tmp_path / "lib.py").write_text(lib.replace("return 1", "return 2"))
    process.expect(f"R (2, {expected})", stream="out")
    process.seen("Update lib.f", stream="out")
