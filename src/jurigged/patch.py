"""`Patch`: one save of one file, its phases wired together. The context (context.py)
is read by all of them; the planner (plan.py) makes the `FilePlan`; the committer
(commit.py) builds the file's share of the batch's one commit; the live steps
(apply.py) run what the commit did not take. Commit and live steps record what they
leave in one `SaveOutcome`, the file's next baseline. Its own module so that
patcher.py (imported by every watching program at start-up) loads them only at the
first save."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .apply import LiveSteps
from .commit import Committer
from .context import SaveContext
from .plan import Planner
from .records import FilePlan, SaveOutcome
from .swaps import Swapper

if TYPE_CHECKING:
    from .parsing import SourceLines
    from .patcher import SourceFile


class Patch:
    """One save of one file, from plan to live objects."""

    def __init__(self, context: SaveContext, plan: FilePlan):
        self.context = context
        self.plan = plan
        self.outcome = SaveOutcome.of(plan)
        swapper = Swapper(context, self.outcome)
        self.live = LiveSteps(context, plan, self.outcome, swapper)
        self.committer = Committer(context, plan, self.outcome, swapper, self.live)

    @classmethod
    def planned(cls, file: "SourceFile", new_tree, new_lines: "SourceLines",
                source: bytes) -> "Patch":
        """The save of `source` (parsed as `new_tree`) over the file's baseline:
        validated as CPython would, then planned. Raises PatchError if refused."""
        planner = Planner(SaveContext(file, new_tree, new_lines))
        planner.validate_whole_file(source)
        return cls(planner.context, planner.prepare())

    @classmethod
    def over_current_text(cls, file: "SourceFile") -> "Patch":
        """A patch that changes nothing, over the file's current text: for retrying
        the file's failed steps."""
        return cls(SaveContext(file, file.tree, file.lines),
                   FilePlan(file.path, (), (), nodes=file.nodes))
