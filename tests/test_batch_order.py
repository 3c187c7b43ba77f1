"""The order a batch's files are applied in: a module's statements after those of
the modules of the batch it imports from. What a file imports is read from its
import lines (not a parse of the whole file); checked here against `ast` on the same
texts."""

from __future__ import annotations

import ast
import os
import textwrap

import pytest

from jurigged.parsing import SourceLines
from jurigged.patcher import SourceFile, _imported_modules

TEXTS = [
    "import a\nimport b.c as d, e\n",
    "from . import sibling\nfrom .. import uncle\nfrom .pkg.mod import (\n    x,\n    y as z,\n)\n",
    "from pkg import sub  # a comment\nfrom pkg.deep import name\n",
    "try:\n    import fast\nexcept ImportError:\n    import slow\n",
    "def later():\n    from lazy.module import thing\n    return thing\n",
    "if TYPE_CHECKING:\n    from typing_only import T\nvalue = 1\n",
    "from ...top import far\n",
    "x = 1\n",
]


def by_ast(module_name: str, path: str, text: str) -> set:
    """The same answer from a parse of the whole file."""
    is_package = os.path.basename(path) == "__init__.py"
    package = module_name if is_package else module_name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(parts + ([base] if base else []))
            if base:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)
    return names | {".".join(n.split(".")[:k]) for n in names for k in range(1, n.count(".") + 1)}


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("module_name, filename", [
    ("app.core.models", "models.py"), ("app.core", "__init__.py"), ("single", "single.py")])
def test_imports_read_from_import_lines_agree_with_ast(tmp_path, text, module_name, filename):
    path = tmp_path / filename
    path.write_text(text)
    file = SourceFile(str(path), module_name, text.encode())
    found = _imported_modules(file, SourceLines(text.encode()))
    assert found == by_ast(module_name, str(path), textwrap.dedent(text))
