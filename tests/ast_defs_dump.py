"""Reference definitions from an interpreter's own ast, for the source model tests.

Run under any Python 3.9+: reads file paths (one per line) on stdin and prints one JSON
object per file: {"file", "error": null or [line, message], "defs": [[kind, qualname,
lineno, end_lineno, col_offset, end_col_offset, first_line], ...] in source order,
"top": the spans of the module's statements}.
"""
import ast
import json
import sys

KINDS = {ast.FunctionDef: "function", ast.AsyncFunctionDef: "async function", ast.ClassDef: "class"}
DEFINITIONS = tuple(KINDS)
# Definitions are statements, so only statement lists need walking (not expressions).
STATEMENT_FIELDS = ("body", "orelse", "handlers", "finalbody", "cases")


def child_statements(node):
    for field in STATEMENT_FIELDS:
        for child in getattr(node, field, None) or ():
            yield child


def declared_globals(scope):
    """Names a `global` statement declares directly in this scope's body."""
    names = set()
    pending = list(scope.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Global):
            names.update(node.names)
        elif not isinstance(node, DEFINITIONS):
            pending.extend(child_statements(node))
    return names


def definitions(tree):
    found = []

    def visit(node, prefix, globals_here):
        for child in child_statements(node):
            if isinstance(child, DEFINITIONS):
                qualname = child.name if child.name in globals_here else prefix + child.name
                first = min([d.lineno for d in child.decorator_list] + [child.lineno])
                found.append([KINDS[type(child)], qualname, child.lineno, child.end_lineno,
                              child.col_offset, child.end_col_offset, first])
                inner = qualname + (".<locals>." if not isinstance(child, ast.ClassDef) else ".")
                visit(child, inner, declared_globals(child))
            else:
                visit(child, prefix, globals_here)

    visit(tree, "", set())
    found.sort(key=lambda d: (d[6], d[4]))
    return found


def top_level(tree):
    """Spans of the module's statements: [lineno, col_offset, end_lineno, end_col_offset]."""
    return [[s.lineno, s.col_offset, s.end_lineno, s.end_col_offset] for s in tree.body]


def main():
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        with open(path, "rb") as f:
            source = f.read()
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError) as error:
            print(json.dumps({"file": path, "error": [getattr(error, "lineno", 0), str(error)], "defs": []}))
            continue
        print(json.dumps({"file": path, "error": None, "defs": definitions(tree), "top": top_level(tree)}))


if __name__ == "__main__":
    main()
