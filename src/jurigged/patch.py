"""`Patch`: one save of one file, made of the parts in plan.py, context.py, commit.py
and apply.py. Its own module so that patcher.py (SourceFile, batches, imported by
every watching program at start-up) loads them only at the first save."""

from __future__ import annotations

from .apply import PatchApply
from .commit import PatchCommit
from .context import PatchContext
from .plan import PatchPlan


class Patch(PatchPlan, PatchContext, PatchCommit, PatchApply):
    """One save of one file, from plan to live objects. Its parts, one per module:
    the plan (plan.py), the node in its context (context.py), the commit (commit.py)
    and the live steps after it (apply.py)."""
