"""Which multi-step strategy a question gets, from the ``multistep`` setting and the answering profile."""

from __future__ import annotations

from typing import Literal

from rag.profiles import ModelProfile
from rag.settings import Settings

Strategy = Literal["single", "decompose", "tools"]


class MultistepConfigError(ValueError):
    """The multistep setting asks for something the profile cannot do."""


def strategy_for(settings: Settings, profile: ModelProfile | None) -> Strategy:
    """``auto``: the search tool where the profile takes tool calls and ``search_tool_max_calls`` > 0, one
    retrieval otherwise (decomposition stays opt-in: it costs two or three retrievals per question).
    ``tools`` with a profile that takes none is an error that says what to change."""
    mode = settings.multistep
    if mode == "off":
        return "single"
    if mode == "decompose":
        return "decompose"
    takes_tools = profile is not None and profile.tools and settings.search_tool_max_calls > 0
    if mode == "tools":
        if profile is not None and not profile.tools:
            raise MultistepConfigError(
                f"multistep = 'tools' but profile {profile.name!r} takes no tool calls: set tools = true under "
                f"[profiles.{profile.name}] if its server supports them, or use multistep = 'decompose' or 'auto'"
            )
        return "tools" if takes_tools else "single"
    return "tools" if takes_tools else "single"
