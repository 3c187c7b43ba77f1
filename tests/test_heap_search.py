"""Functions that only other objects hold (a registry, a click command, a `__conform__`
holder) are found through the heap and patched, as jurigged 0.6.1 finds them."""

from __future__ import annotations

from textwrap import dedent

import pytest

from test_patching import edit, start


def test_function_kept_only_by_a_registry(run_jurigged, tmp_path):
    lib = dedent("""\
        REGISTRY = {}

        def register(function):
            REGISTRY[function.__name__] = function
            return "registered"

        @register
        def job(x):
            return x + 1
        """)
    p = start(run_jurigged, tmp_path, lib, "(lib.REGISTRY['job'](1), lib.job)")
    p.expect("R (2, 'registered')")
    edit(tmp_path, p, lib.replace("x + 1", "x + 100"), "(101, 'registered')")
    p.seen("Update lib.job", stream="out")
    assert "no live function found" not in p.output("err")


def test_click_command_callback(run_jurigged, tmp_path):
    pytest.importorskip("click")
    lib = dedent("""\
        import click

        @click.command()
        @click.option("--name", default="world")
        def hello(name):
            return "hello " + name
        """)
    p = start(run_jurigged, tmp_path, lib,
              "lib.hello.main(['--name', 'you'], standalone_mode=False)")
    p.expect("R 'hello you'")
    # A line added above moves the command: nothing to patch there, and no warning.
    moved = "# the greeting command\n" + lib
    edit(tmp_path, p, moved.replace('"hello "', '"goodbye "'), "'goodbye you'")
    assert "no live function found" not in p.output("err")


def test_conform_holder_found_through_the_heap(run_jurigged, tmp_path):
    lib = dedent("""\
        class Holder:
            def __init__(self, function):
                self.function = function
                self.updates = 0

            def __conform__(self, new):
                self.updates += 1
                self.function = new

            def __call__(self, *args):
                return self.function(*args)

        HOLDERS = []

        def keep(function):
            HOLDERS.append(Holder(function))
            return None

        @keep
        def work(x):
            return x * 2
        """)
    p = start(run_jurigged, tmp_path, lib, "(lib.HOLDERS[0](3), lib.HOLDERS[0].updates)")
    p.expect("R (6, 0)")
    edit(tmp_path, p, lib.replace("x * 2", "x * 5"), "(15, 1)")
