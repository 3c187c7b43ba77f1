"""`jurigged --defs FILE...`: what the source model sees in a file, for troubleshooting.

Prints one JSON object per function and class definition, in source order, with the
same numbering as Python's ast, so a disagreement with ast is easy to spot.
"""
import json
import sys

from .parsing import parse_source

_DEFINITION_KINDS = ("function", "async function", "class")


def run(paths, out=sys.stdout, err=sys.stderr):
    """Print the definitions of each file; returns 1 if any file failed, else 0."""
    status = 0
    for path in paths:
        try:
            with open(path, "rb") as f:
                source = f.read()
            tree = parse_source(source, path)
        except SyntaxError as error:
            column = (error.offset or 1) - 1
            print(f"{path}:{error.lineno}:{column}: SyntaxError: {error.msg}", file=err)
            status = 1
            continue
        except OSError as error:
            print(f"{path}: {error.strerror or error}", file=err)
            status = 1
            continue
        for node in tree.nodes:
            if node.kind not in _DEFINITION_KINDS:
                continue
            record = {
                "file": path,
                "kind": node.kind,
                "qualname": node.qualname,
                "lineno": node.def_line,
                "col_offset": node.def_col,
                "end_lineno": node.end_line,
                "end_col_offset": node.end_col,
                "first_line": node.line,
            }
            print(json.dumps(record), file=out)
    return status
