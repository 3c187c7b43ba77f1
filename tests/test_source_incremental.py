"""parse(source, against=old): re-reading only the changed top-level statements must give
exactly the whole-file parse: every field of every node, the line count, the same
changes()/diff() from the old tree, the same SyntaxError. Real files (a sample of the
stdlib, generated projects) under seeded random chains of edits, plus edge cases."""
import os
import random
import sys
import textwrap

import pytest

from jurigged import _core

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from differential.generator import FAMILIES, generate_project  # noqa: E402

FIELDS = ("kind", "name", "qualname", "parent", "children", "line", "col", "end_line", "end_col",
          "def_line", "def_col", "body_line", "decorators_hash", "header_hash", "body_hash",
          "layout_hash")
SNIPPETS = [b"'", b'"', b'"""', b"'''", b"(", b")", b"[", b"]", b"{", b"}", b"    ", b"\t", b"\n",
            b"\n    ", b"\r\n", b"\\", b"\\\n", b"#", b":", b";", b"@", b"f'{", b"}'", b"x = 1\n",
            b"def x():\n", b"def x():\n    pass\n", b"class K:\n", b"async ", b"else:\n    pass\n",
            b"elif y:\n", b"except E:\n    pass\n", b"finally:\n", b"case 1:\n", b"@dec\n",
            b"\xc3\xa9", b"\xff", b"\x00", b"\n\n", b"pass\n", b"    pass\n", b"if z:\n", b"global g\n",
            b"x = 1;\n", b"\x0c", b"# c\n", b"'''\n", b"\"\"\"doc\"\"\"\n"]


def stdlib_sample(count=60, limit=40_000):
    folder = os.path.dirname(os.__file__)
    names = sorted(n for n in os.listdir(folder) if n.endswith(".py"))
    out = []
    for name in names[::2]:
        path = os.path.join(folder, name)
        if os.path.getsize(path) <= limit:
            with open(path, "rb") as f:
                out.append(f.read())
    return out[:count]


def generated_sample(count=6):
    out = []
    for seed in range(count):
        project = generate_project(random.Random(seed), FAMILIES)
        out.extend(m.render().encode() for m in project.modules[:2])
    return out


def parse(source, against=None, minor=sys.version_info.minor):
    try:
        return _core.parse(source, "m.py", against=against, python_minor=minor)
    except SyntaxError as error:
        return (type(error), error.msg, error.lineno, error.offset, error.text)


def fields(tree):
    return [tuple(getattr(node, f) for f in FIELDS) for node in tree.nodes]


def changes_summary(old, new):
    c = _core.changes(old, new)
    old_count, new_count = len(old.nodes), len(new.nodes)
    return (list(c.entries), list(c.positions), list(c.uncarried_functions), c.unchanged_count,
            [c.new_index(o) for o in range(old_count)], [c.unchanged(o) for o in range(old_count)],
            [c.position(o) for o in range(old_count)], [c.old_index(n) for n in range(new_count)])


def check_same(old, source, minor=sys.version_info.minor):
    """Parses `source` both ways; returns the incremental tree (or the error)."""
    incremental = parse(source, against=old, minor=minor)
    whole = parse(source, minor=minor)
    if isinstance(whole, tuple) or isinstance(incremental, tuple):
        assert incremental == whole
        return incremental
    assert incremental.line_count == whole.line_count
    assert incremental.line_starts == whole.line_starts
    assert incremental.text_is_source == whole.text_is_source
    assert fields(incremental) == fields(whole)
    assert _core.diff(old, incremental) == _core.diff(old, whole)
    assert changes_summary(old, parse(source, against=old, minor=minor)) == changes_summary(old, whole)
    return incremental


def mutate(rng, source):
    """One random edit: bytes, lines or whole top-level statements."""
    lines = source.splitlines(keepends=True)
    kind = rng.randrange(8)
    at = rng.randint(0, len(source))
    if kind == 0:  # insert a snippet anywhere (the very start and end included)
        at = rng.choice([0, len(source), at])
        return source[:at] + rng.choice(SNIPPETS) + source[at:]
    if kind == 1:  # delete a few bytes
        return source[:at] + source[at + rng.randint(1, 12):]
    if kind == 2:  # replace a few bytes
        return source[:at] + rng.choice(SNIPPETS) + source[at + rng.randint(1, 6):]
    if not lines:
        return rng.choice(SNIPPETS)
    line = rng.randrange(len(lines))
    if kind == 3:  # delete lines
        del lines[line:line + rng.randint(1, 4)]
    elif kind == 4:  # duplicate lines elsewhere
        chunk = lines[line:line + rng.randint(1, 6)]
        target = rng.randint(0, len(lines))
        lines[target:target] = chunk
    elif kind == 5:  # change one token's worth in a line (a function body, usually)
        text = lines[line]
        cut = rng.randint(0, len(text))
        lines[line] = text[:cut] + rng.choice([b"1", b"x", b" + 2", b"  ", b""]) + text[cut:]
    elif kind == 6:  # remove or duplicate a whole top-level statement
        starts = [k for k, t in enumerate(lines) if t[:1] not in (b" ", b"\t", b"\n", b"#", b"")]
        if starts:
            k = rng.randrange(len(starts))
            end = starts[k + 1] if k + 1 < len(starts) else len(lines)
            chunk = lines[starts[k]:end]
            if rng.random() < 0.5:
                del lines[starts[k]:end]
            else:
                lines[end:end] = chunk
    else:  # indent or dedent a line
        lines[line] = lines[line][4:] if lines[line].startswith(b"    ") else b"    " + lines[line]
    return b"".join(lines)


def run_chain(rng, source, steps):
    """Successive edits, each parsed against the previous incremental tree."""
    old = parse(source)
    reused = 0
    for _ in range(steps):
        if isinstance(old, tuple):
            return reused
        edited = mutate(rng, source)
        result = check_same(old, edited)
        if not isinstance(result, tuple):
            reused += result.reused_nodes
            old, source = result, edited
    return reused


@pytest.mark.parametrize("index", range(60))
def test_stdlib_edit_chains(index):
    sample = stdlib_sample()
    if index >= len(sample):
        pytest.skip("fewer stdlib files")
    rng = random.Random(index)
    reused = run_chain(rng, sample[index], 120)
    assert reused > 0  # the incremental path ran, not only the whole-file fallback


def test_generated_module_edit_chains():
    rng = random.Random(7)
    reused = 0
    for source in generated_sample():
        reused += run_chain(rng, source, 12)
    assert reused > 0


def tree_of(text):
    return _core.parse(textwrap.dedent(text).encode(), "m.py")


BASE = """\
    '''Module docstring.'''
    import os

    def f(x):
        return x + 1

    class C:
        def m(self):
            return 2

    if os.name:
        def g():
            return 3
    else:
        def g():
            return 4

    Y = 1
    """


@pytest.mark.parametrize("edited", [
    BASE.replace("x + 1", "x + 2"),                       # one body
    BASE.replace("    Y = 1\n", ""),                       # the last statement removed
    BASE + "    Z = 2\n",                                  # appended
    BASE + "    Z = 2",                                    # appended without a final newline
    "    # comment\n" + BASE,                             # before everything
    BASE.replace("import os", "import os, sys"),           # line 2
    BASE.replace("    def f(x):", "    @cache\n    def f(x):"),   # lines move
    BASE.replace("    Y = 1\n", "    else:\n        pass\n"),     # joins the if before it
    BASE.replace("    class C:", "    x = '''\n    class C:"),     # a string left open
    BASE.replace("    class C:", "    x = (\n    class C:"),       # a bracket left open
    BASE.replace("    class C:", "    x = '''\n    class C:") + "    '''\n",  # closed at the end
    BASE.replace("    Y = 1\n", "      Y = 1\n"),                  # unexpected indent
    BASE.replace("    Y = 1\n", "        return 5\n"),             # joins g's body
    BASE.replace("    Y = 1\n", "    Y = 1 \\\n"),                 # continued into nothing
    BASE.replace("import os\n", "import os\n\\\n"),
    BASE.replace("def f(x):\n", "def f(x):\n        y = 0\n"),     # a new line in a body
    BASE.replace("x + 1", "x + \u00e9"),
    BASE.replace("def f(x)", "def \u0141(x)"),
    "",
    BASE.replace("    Y = 1\n", "    Y = 1;\n"),
    BASE.replace("    '''Module docstring.'''\n", ""),
    BASE.replace("\n\n", "\n"),
    BASE.replace("    ", "\t"),
])
def test_hand_written_edits(edited):
    old = tree_of(BASE)
    check_same(old, textwrap.dedent(edited).encode())


def test_reuses_nodes_outside_the_change():
    old = tree_of(BASE)
    new = _core.parse(textwrap.dedent(BASE.replace("x + 1", "x + 2")).encode(), "m.py", against=old)
    assert 0 < new.reused_nodes < len(new.nodes)
    unchanged = _core.parse(textwrap.dedent(BASE).encode(), "m.py", against=old)
    assert unchanged.reused_nodes >= len(unchanged.nodes) - 3


def test_other_python_rules_parse_the_whole_file():
    old = _core.parse(b"x = 1\ny = 2\nz = 3\n", python_minor=12)
    new = _core.parse(b"x = 1\ny = 3\nz = 3\n", python_minor=11, against=old)
    assert new.reused_nodes == 0
    assert fields(new) == fields(_core.parse(b"x = 1\ny = 3\nz = 3\n", python_minor=11))


def test_encodings_and_line_endings():
    latin = "# -*- coding: latin-1 -*-\nx = 1\ndef f():\n    return 'é'\ny = 2\n"
    old = _core.parse(latin.encode("latin-1"), "m.py")
    check_same(old, latin.replace("y = 2", "y = 3").encode("latin-1"))
    check_same(old, latin.replace("latin-1", "utf-8").encode("utf-8"))
    crlf = textwrap.dedent(BASE).replace("\n", "\r\n").encode()
    old = _core.parse(crlf, "m.py")
    check_same(old, crlf.replace(b"x + 1", b"x + 2"))
    check_same(old, b"\xef\xbb\xbf" + crlf)


def test_errors_are_those_of_the_whole_file():
    old = tree_of(BASE)
    for broken in ["    Y = (\n", "    Y = 1 +\n", "    else:\n", "    Y = '\n"]:
        result = check_same(old, textwrap.dedent(BASE.replace("    Y = 1\n", broken)).encode())
        assert isinstance(result, tuple)


def test_folded_names_stay_folded():
    # Python folds identifiers to NFKC ("\ufb01" is "fi"): copied nodes keep the folded
    # names of the tree they come from, new ones are folded like a whole-file parse's
    source = textwrap.dedent(BASE).replace("def f(x)", "def \ufb01x(x)") + "def \u2168():\n    pass\n"
    old = _core.parse(source.encode(), "m.py")
    assert old.nodes[old.nodes[0].children[2]].name == "fix"
    for edited in [source.replace("return 2", "return 5"), source.replace("pass", "return 1"),
                   source + "def \ufb02y():\n    pass\n"]:
        check_same(old, edited.encode())


SAME_NAMES = """\
def f():
    return 1

X = 1

def f():
    return 1

class C:
    pass

def f():
    return 2

X = 1

def f():
    return 1
"""


@pytest.mark.parametrize("edit", [
    lambda s: s.replace("class C:\n    pass\n", ""),
    lambda s: s.replace("return 2", "return 1"),
    lambda s: s.replace("def f():\n    return 2\n", "def f():\n    return 1\n\ndef f():\n    return 3\n"),
    lambda s: s.replace("X = 1\n\ndef f():\n    return 1\n\nclass", "class", 1),
    lambda s: s.replace("class C:\n    pass\n", "X = 1\n"),
    lambda s: "def f():\n    return 1\n\n" + s,
])
def test_same_named_definitions_pair_like_the_whole_diff(edit):
    # the diff pairs same-named definitions by similarity; a copied `f` may pair with
    # a re-read one, so these names take the whole matching, not the copy shortcut
    old = _core.parse(SAME_NAMES.encode(), "m.py")
    new = check_same(old, edit(SAME_NAMES).encode())
    assert new.reused_nodes > 0


@pytest.mark.parametrize("minor", [9, 13])
@pytest.mark.parametrize("source", [
    "def f():\n    pass\n\\\nx = 1\ny = 2\nz = 3\n",
    "if a:\n  if b:\n    pass\n\\\nx = 1\ny = 2\nz = 3\n",
    "x = 0\n    \\\nx = 1\ny = 2\nz = 3\n",
    "x = 0\n\x0cy = 2\nz = 3\n",
])
def test_lines_continued_or_fed_before_a_statement(source, minor):
    # 3.9 keeps the indentation on a line that starts with a backslash continuation
    old = parse(source.encode(), minor=minor)
    if isinstance(old, tuple):
        return
    for edited in [source.replace("y = 2", "y = 5"), source.replace("x = 1", "x = 4"),
                   source.replace("z = 3", "z = 6"), source + "w = 1\n"]:
        check_same(old, edited.encode(), minor)


def long_module(functions=60):
    parts = ["import os\n\n"]
    for i in range(functions):
        parts.append(f"def func_{i}(a, b={i}):\n    total = a + b * {i}\n    return total\n\n")
        if i % 7 == 3:
            parts.append(f"class Holder{i}:\n    def get(self):\n        return {i}\n\n")
    return "".join(parts)


@pytest.mark.parametrize("seed", range(4))
def test_long_chains_of_edits_sharing_nodes(seed):
    # each save parsed against the last one shares its nodes in runs; dozens of edits
    # in a row make runs pile up and merge, and every tree stays the whole-file one
    rng = random.Random(seed)
    source = long_module()
    old = parse(source.encode())
    for step in range(80):
        i = rng.randrange(60)
        where = f"total = a + b * {i}\n"
        if rng.random() < 0.5:  # the body changes, the line count too
            edited = source.replace(where, where + f"    total += {step}\n", 1)
        else:
            edited = source.replace(f"    return total\n\ndef func_{i + 1}(", f"    return total + {step}\n\ndef func_{i + 1}(", 1)
        if edited == source:
            continue
        new = check_same(old, edited.encode())
        assert new.reused_nodes > 0
        old, source = new, edited


def test_non_ascii_names_pair_like_the_whole_diff():
    # names are compared folded (NFKC): "\ufb01" edited next to an unedited "fi" is a
    # name shared with a copied definition
    source = ("def fi():\n    return 1\n\nX = 1\n\ndef \ufb01():\n    return 2\n\n"
              "Y = 2\n\ndef fi():\n    return 3\n")
    old = _core.parse(source.encode(), "m.py")
    for edited in [source.replace("return 2", "return 5"), source.replace("return 1", "return 4"),
                   source.replace("return 3", "return 6"), source.replace("Y = 2", "Y = 3")]:
        assert check_same(old, edited.encode()).reused_nodes > 0


def expected_uncarried(old, changes):
    """Old functions whose entry is not unchanged or that are nested in a function."""
    nodes = list(old.nodes)
    out, in_function = [], [False] * len(nodes)
    for i, node in enumerate(nodes):
        if i and node.parent > 0:
            parent = nodes[node.parent]
            in_function[i] = in_function[node.parent] or parent.kind in ("function", "async function")
        if i and node.kind in ("function", "async function") and (in_function[i] or not changes.unchanged(i)):
            out.append(i)
    return out


NESTED = """\
def outer():
    def inner():
        async def deepest():
            pass
    return inner

class Box:
    def method(self):
        def helper():
            pass
        return helper

    class Inner:
        async def run(self):
            pass

if True:
    def in_block():
        def nested_in_block():
            pass
"""


@pytest.mark.parametrize("edit", [
    lambda s: s.replace("    class Inner:\n        async def run(self):\n            pass\n", ""),
    lambda s: s.replace("class Box:", "class Crate:"),
    lambda s: s.replace("return inner", "return None"),
    lambda s: s.replace("def outer():\n    def inner():\n        async def deepest():\n            pass\n    return inner\n", ""),
    lambda s: "X = 1\n" + s,
    lambda s: s + "def added():\n    def inside():\n        pass\n",
    lambda s: s.replace("if True:", "if False:"),
])
def test_uncarried_functions_are_the_changed_and_nested_ones(edit):
    old = _core.parse(NESTED.encode(), "m.py")
    for new in (_core.parse(edit(NESTED).encode(), "m.py", against=old),
                _core.parse(edit(NESTED).encode(), "m.py")):
        changes = _core.changes(old, new)
        assert list(changes.uncarried_functions) == expected_uncarried(old, changes)


def test_uncarried_functions_along_edit_chains():
    rng = random.Random(3)
    checked = 0
    for source in generated_sample(3):
        old = parse(source)
        for _ in range(10):
            if isinstance(old, tuple):
                break
            edited = mutate(rng, source)
            new = parse(edited, against=old)
            if isinstance(new, tuple):
                continue
            changes = _core.changes(old, new)
            assert list(changes.uncarried_functions) == expected_uncarried(old, changes)
            checked += 1
            old, source = new, edited
    assert checked > 20
