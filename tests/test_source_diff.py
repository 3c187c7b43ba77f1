"""diff(): hand-written edits with the expected change bits, then seeded random edit
sequences where applying the plan to the old tree must rebuild the new tree."""
import random
import textwrap

import pytest

from jurigged import _core

MOVED = _core.MOVED
REFORMATTED = _core.REFORMATTED
BODY = _core.BODY_CHANGED
SIGNATURE = _core.SIGNATURE_CHANGED
DECORATORS = _core.DECORATORS_CHANGED
CLASS_HEADER = _core.CLASS_HEADER_CHANGED
ADDED = _core.ADDED
DELETED = _core.DELETED
DEFINITIONS = ("class", "function", "async function")
CONTENT_BITS = BODY | SIGNATURE | DECORATORS | CLASS_HEADER


def descendants(tree, index):
    pending, found = list(tree.nodes[index].children), []
    while pending:
        child = pending.pop()
        found.append(child)
        pending.extend(tree.nodes[child].children)
    return found


def apply_plan(old, new, plan):
    """Checks that the plan turns `old` into `new`: every node accounted for once, pairs
    in matching scopes, and each pair's change bits exactly the differences."""
    old_nodes, new_nodes = old.nodes, new.nodes
    old_seen, new_seen = [0] * len(old_nodes), [0] * len(new_nodes)
    old_to_new = {}
    for change, o, n in plan:
        if o >= 0:
            old_seen[o] += 1
        if n >= 0:
            new_seen[n] += 1
        if o >= 0 and n >= 0:
            old_to_new[o] = n
    for change, o, n in plan:
        if o < 0:
            assert change == ADDED and new_nodes[n].parent in old_to_new.values()
            for d in descendants(new, n):
                new_seen[d] += 1
        elif n < 0:
            assert change == DELETED and old_nodes[o].parent in old_to_new
            for d in descendants(old, o):
                old_seen[d] += 1
    assert old_seen == [1] * len(old_nodes), "every old node exactly once"
    assert new_seen == [1] * len(new_nodes), "every new node exactly once"

    # order: new-file order, then deletions in old-file order
    new_order = [n for _, _, n in plan if n >= 0]
    deleted = [o for _, o, n in plan if n < 0]
    assert new_order == sorted(new_order) and deleted == sorted(deleted)
    assert all(n >= 0 for _, _, n in plan[:len(new_order)])

    for change, o, n in plan:
        if o < 0 or n < 0:
            continue
        x, y = old_nodes[o], new_nodes[n]
        assert x.kind == y.kind
        assert o == 0 or old_to_new.get(x.parent) == y.parent, "pairs stay in matching scopes"
        rebuilt = rebuild(x, y, change)
        assert rebuilt == record(y), (change, x, y)


def record(node):
    content = (node.kind, node.name, node.decorators_hash, node.header_hash, node.body_hash)
    if node.kind == "block":  # its definitions carry their own changes
        content = (node.kind, node.header_hash)
    return content, node.layout_hash, node.line


def rebuild(x, y, change):
    """The new node as the plan describes it: the old one with the changed parts taken
    from the new one. Flags for parts that did not change are an error too."""
    assert not change & (ADDED | DELETED)
    (kind, name, decorators, header, body), layout, line = (
        (x.kind, x.name, x.decorators_hash, x.header_hash, x.body_hash), x.layout_hash, x.line)
    if x.kind == "block":
        assert not change & ~(BODY | MOVED | REFORMATTED)
        if change & BODY:
            assert x.header_hash != y.header_hash
            return (kind, y.header_hash), y.layout_hash, y.line
        if x.body_hash != y.body_hash:  # only the definitions inside changed
            assert change in (0, MOVED) and (change == MOVED) == (x.line != y.line)
            return (kind, x.header_hash), y.layout_hash, y.line
    for bit, old_value, new_value in ((DECORATORS, decorators, y.decorators_hash),
                                      (SIGNATURE | CLASS_HEADER, header, y.header_hash),
                                      (BODY, body, y.body_hash)):
        assert bool(change & bit) == (old_value != new_value), (change, bit)
    if x.kind == "class":
        assert not change & SIGNATURE
    elif x.kind != "block":
        assert not change & CLASS_HEADER
    if change & CONTENT_BITS:
        assert not change & (MOVED | REFORMATTED)
        layout, line = y.layout_hash, y.line
    elif change & REFORMATTED:
        assert layout != y.layout_hash
        layout, line = y.layout_hash, y.line
    elif change & MOVED:
        assert line != y.line and layout == y.layout_hash
        line = y.line
    content = (kind, name, y.decorators_hash if change & DECORATORS else decorators,
               y.header_hash if change & (SIGNATURE | CLASS_HEADER) else header,
               y.body_hash if change & BODY else body)
    if x.kind == "block":
        content = (kind, x.header_hash)
    return content, layout, line


def plan_for(old_source, new_source):
    old, new = _core.parse(old_source.encode()), _core.parse(new_source.encode())
    plan = _core.diff(old, new)
    apply_plan(old, new, plan)
    return old, new, plan


def labelled(old_source, new_source):
    """{label: change} where a label is a qualname or a statement's first line."""
    old, new, plan = plan_for(old_source, new_source)
    old_lines, new_lines = old_source.splitlines(), new_source.splitlines()

    def label(tree, lines, index):
        node = tree.nodes[index]
        if node.kind in DEFINITIONS:
            return node.qualname
        if node.kind == "module":
            return "<module>"
        return lines[node.line - 1].strip()

    out = {}
    for change, o, n in plan:
        key = label(new, new_lines, n) if n >= 0 else label(old, old_lines, o)
        out[key if key not in out else key + "#2"] = change
    return out


BASE = textwrap.dedent('''\
    import os

    X = 1


    def f(a, b=2):
        return a + b


    @decorator
    def g():
        # a comment
        return X


    class C(Base):
        attribute = 3

        def method(self):
            return self.attribute
''')


def edit(source, old, new, count=1):
    assert source.count(old) >= count, old
    return source.replace(old, new, count)


def test_identical_sources_are_unchanged():
    changes = labelled(BASE, BASE)
    assert set(changes.values()) == {0}
    assert len(changes) == len(_core.parse(BASE.encode()).nodes)


def test_comment_only_edit_is_reformatted_and_moves_what_follows():
    new = edit(BASE, "    # a comment\n", "    # a longer\n    # comment\n")
    changes = labelled(BASE, new)
    assert changes["g"] == REFORMATTED
    assert changes["C"] == MOVED and changes["C.method"] == MOVED
    assert changes["f"] == 0 and changes["X = 1"] == 0
    assert changes["<module>"] == REFORMATTED


def test_spacing_edit_is_reformatted():
    changes = labelled(BASE, edit(BASE, "return a + b", "return a+b"))
    assert changes["f"] == REFORMATTED
    assert changes["g"] == 0


def test_move_functions():
    moved = edit(BASE, "def f(a, b=2):\n    return a + b\n\n\n", "")
    moved += "\n\ndef f(a, b=2):\n    return a + b\n"
    changes = labelled(BASE, moved)
    assert changes["f"] == MOVED
    assert changes["g"] == MOVED and changes["C"] == MOVED


def test_body_change():
    changes = labelled(BASE, edit(BASE, "return a + b", "return a * b"))
    assert changes["f"] == BODY
    assert changes["g"] == 0 and changes["C.method"] == 0


def test_signature_change():
    changes = labelled(BASE, edit(BASE, "def f(a, b=2):", "def f(a, b=3):"))
    assert changes["f"] == SIGNATURE


def test_decorator_change():
    changes = labelled(BASE, edit(BASE, "@decorator\n", "@decorator(1)\n"))
    assert changes["g"] == DECORATORS


def test_class_bases_change():
    changes = labelled(BASE, edit(BASE, "class C(Base):", "class C(Base, Mixin):"))
    assert changes["C"] == CLASS_HEADER
    assert changes["C.method"] == 0


def test_method_change_marks_the_class_body():
    changes = labelled(BASE, edit(BASE, "return self.attribute", "return -self.attribute"))
    assert changes["C.method"] == BODY
    assert changes["C"] == BODY  # the class body covers its methods
    assert changes["attribute = 3"] == 0


def test_add_and_delete():
    added = BASE + "\n\ndef h():\n    pass\n"
    changes = labelled(BASE, added)
    assert changes["h"] == ADDED
    deleted = edit(BASE, "@decorator\ndef g():\n    # a comment\n    return X\n\n\n", "")
    changes = labelled(BASE, deleted)
    assert changes["g"] == DELETED
    assert changes["C"] == MOVED


def test_rename_is_delete_and_add():
    changes = labelled(BASE, edit(BASE, "def f(a", "def f2(a"))
    assert changes["f"] == DELETED and changes["f2"] == ADDED


def test_kind_change_is_delete_and_add():
    changes = labelled(BASE, edit(BASE, "def f(a", "async def f(a"))
    assert list(changes.values()).count(ADDED) == 1 and list(changes.values()).count(DELETED) == 1


REGISTRY = textwrap.dedent('''\
    @register
    def do(x: int):
        return "int"

    @register
    def do(x: str):
        return "str"
''')


def named(tree, name):
    return [i for i, node in enumerate(tree.nodes) if node.name == name]


def test_same_named_definition_inserted_in_the_middle():
    new = edit(REGISTRY, "@register\ndef do(x: str)", "@register\ndef do(x: float):\n    return 'float'\n\n"
                                                       "@register\ndef do(x: str)")
    old, new_tree, plan = plan_for(REGISTRY, new)
    by_new = {n: (c, o) for c, o, n in plan}
    old_do, new_do = named(old, "do"), named(new_tree, "do")
    assert by_new[new_do[0]] == (0, old_do[0])
    assert by_new[new_do[1]][0] == ADDED
    assert by_new[new_do[2]] == (MOVED, old_do[1])


def test_same_named_definitions_pair_by_content_not_order():
    swapped = textwrap.dedent('''\
        @register
        def do(x: str):
            return "str"

        @register
        def do(x: int):
            return "int"
    ''')
    old, new, plan = plan_for(REGISTRY, swapped)
    pairs = {(o, n): c for c, o, n in plan}
    (int_old, str_old), (str_new, int_new) = named(old, "do"), named(new, "do")
    assert pairs[(int_old, int_new)] == MOVED and pairs[(str_old, str_new)] == MOVED


PROPERTY = textwrap.dedent('''\
    class C:
        @property
        def x(self):
            return self._x

        @x.setter
        def x(self, value):
            self._x = value
''')


def test_property_getter_edit():
    old, new, plan = plan_for(PROPERTY, edit(PROPERTY, "return self._x", "return self._x * 2"))
    pairs = {(o, n): c for c, o, n in plan}
    (getter, setter), (new_getter, new_setter) = named(old, "x"), named(new, "x")
    assert pairs[(getter, new_getter)] == BODY and pairs[(setter, new_setter)] == 0


def test_property_setter_edit():
    old, new, plan = plan_for(PROPERTY, edit(PROPERTY, "self._x = value", "self._x = int(value)"))
    pairs = {(o, n): c for c, o, n in plan}
    (getter, setter), (new_getter, new_setter) = named(old, "x"), named(new, "x")
    assert pairs[(getter, new_getter)] == 0 and pairs[(setter, new_setter)] == BODY


def test_statements_changed_added_removed():
    old = "import os\nX = 1\nY = 2\nprint(X)\n"
    changes = labelled(old, "import os\nX = 10\nY = 2\nprint(X)\n")
    assert changes["X = 10"] == BODY and changes["Y = 2"] == 0
    changes = labelled(old, "import os\nX = 1\nZ = 3\nY = 2\nprint(X)\n")
    assert changes["Z = 3"] == ADDED and changes["Y = 2"] == MOVED
    changes = labelled(old, "import os\nY = 2\nprint(X)\n")
    assert changes["X = 1"] == DELETED and changes["Y = 2"] == MOVED
    changes = labelled(old, "import os\n\nX = 1\nY = 2\nprint(X)\n")
    assert changes["X = 1"] == MOVED and changes["import os"] == 0


def test_blocks_with_definitions():
    old = "import sys\nif sys.platform == 'linux':\n    def f(): return 1\nelse:\n    def f(): return 2\n"
    old_tree, new_tree, plan = plan_for(old, old.replace("return 1", "return 3"))
    first_f, second_f = named(new_tree, "f")
    changes = {n: c for c, o, n in plan}
    assert changes[first_f] == BODY and changes[second_f] == 0
    assert changes[new_tree.nodes[first_f].parent] == 0  # the if block's own clauses did not change
    changes = labelled(old, old.replace("'linux'", "'darwin'"))
    assert changes["if sys.platform == 'darwin':"] == BODY


# ---- random edit sequences -------------------------------------------------------------

SNIPPETS = [
    "def f(a, b=2):\n    return a + b\n",
    "def f(a, b=3):\n    return a + b\n",
    "def f(a, b=2):\n    # note\n    return a+b\n",
    "@decorator\ndef f(a, b=2):\n    return a + b\n",
    "async def f(a):\n    await a\n",
    "def g():\n    def inner():\n        return 1\n    return inner\n",
    "def g():\n    def inner():\n        return 2\n    return inner\n",
    "class C(Base):\n    x = 1\n\n    def m(self):\n        return self.x\n",
    "class C(Base, Mixin):\n    x = 1\n\n    def m(self):\n        return self.x\n",
    "class C(Base):\n    x = 2\n    @property\n    def m(self):\n        return self.x\n",
    "@register\ndef do(x: int):\n    return 1\n",
    "@register\ndef do(x: str):\n    return 2\n",
    "@register\ndef do(x: str):\n    return 3\n",
    "X = 1\n",
    "X = 2\n",
    "Y = [\n    1,\n    2,\n]\n",
    "print(X)\n",
    "if X:\n    def h():\n        pass\nelse:\n    Z = 1\n",
    "if not X:\n    def h():\n        pass\n",
    "for i in range(3):\n    print(i)\n",
    "try:\n    import numpy\nexcept ImportError:\n    numpy = None\n",
    "# a comment\n",
    "\n",
]


def random_edit(rng, chunks):
    action = rng.randrange(5)
    if action == 0 or not chunks:
        chunks.insert(rng.randrange(len(chunks) + 1), rng.choice(SNIPPETS))
    elif action == 1:
        del chunks[rng.randrange(len(chunks))]
    elif action == 2:
        i, j = rng.randrange(len(chunks)), rng.randrange(len(chunks))
        chunks[i], chunks[j] = chunks[j], chunks[i]
    elif action == 3:
        chunks[rng.randrange(len(chunks))] = rng.choice(SNIPPETS)
    else:
        i = rng.randrange(len(chunks))
        chunks[i] = chunks[i].replace("\n", "\n\n", 1)


@pytest.mark.parametrize("seed", range(20))
def test_random_edit_sequences(seed):
    rng = random.Random(seed)
    chunks = [rng.choice(SNIPPETS) for _ in range(8)]
    old_source = "".join(chunks)
    for _ in range(40):
        for _ in range(rng.randrange(1, 4)):
            random_edit(rng, chunks)
        new_source = "".join(chunks)
        plan_for(old_source, new_source)
        old_source = new_source


def test_random_edits_of_real_files():
    import os
    stdlib = os.path.dirname(os.__file__)
    rng = random.Random(7)
    names = sorted(n for n in os.listdir(stdlib) if n.endswith(".py"))[:40]
    for name in names:
        with open(os.path.join(stdlib, name), encoding="utf-8") as f:
            lines = f.read().splitlines(keepends=True)
        for _ in range(5):
            edited = list(lines)
            for _ in range(3):
                i = rng.randrange(len(edited) + 1)
                edited.insert(i, rng.choice(["\n", "# comment\n", "PATCHED = 1\n"]))
            new_source = "".join(edited)
            try:
                compile(new_source, name, "exec", dont_inherit=True, flags=0x400)  # ast only
            except SyntaxError:
                continue
            plan_for("".join(lines), new_source)
