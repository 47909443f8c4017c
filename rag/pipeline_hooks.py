"""Hooks into a question's stages: how a server adds deadlines, tracing or its own view of the passages
without wrapping the pipeline's parts.

A :class:`PipelineHook` sees each stage of :class:`rag.pipeline.Pipeline` as it runs — ``retrieval``,
``generation`` (again for a retry) and ``verification`` — through :meth:`PipelineHook.stage`, a context
manager entered when the stage starts and left when it ends (an error in the stage is raised through it),
and may rewrite the passages a retrieval found (:meth:`PipelineHook.retrieved`) before the prompt, the
citations and the verdict use them. The pipeline enters the hooks in their order and leaves them in the
reverse order. Every method of the base class does nothing, so a hook overrides only what it needs.

Users: the API's stage deadlines and its public sources (api.stages, api.public_sources) and the
OpenTelemetry spans (rag.tracing).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.types import Passage

__all__ = ["STAGES", "PipelineHook", "stages"]

STAGES = ("retrieval", "generation", "verification")


class PipelineHook:
    """A no-op hook: subclass it and override what you need."""

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Around one stage (one of ``STAGES``)."""
        yield

    def retrieved(self, passages: list[Passage]) -> list[Passage]:
        """The passages the rest of the question uses (default: as retrieved)."""
        return passages


@contextlib.contextmanager
def stages(hooks: Sequence[PipelineHook], name: str) -> Iterator[None]:
    """Every hook's ``stage(name)``, entered in order and left in reverse."""
    with contextlib.ExitStack() as entered:
        for hook in hooks:
            entered.enter_context(hook.stage(name))
        yield
