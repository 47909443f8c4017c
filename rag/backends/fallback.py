"""Answer with a profile's fallback when its backend stays unavailable.

Only :class:`~rag.backends.base.ModelUnavailableError` (raised after the backend's own retries, or at
once for a ``Retry-After`` too long to wait) hands over to ``profile.fallback``; a bad key, an empty
balance or a wrong request is the user's to fix and is raised as it is, since a fallback would hide it.
Chains (A → B → C) are followed; a profile already tried ends the chain (no loops). The returned
``Generation.model`` names the profile that answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from rag.backends.base import Backend, Message, ModelConfigError, ModelUnavailableError, StreamEvent
from rag.profiles import ModelProfile
from rag.types import Generation

__all__ = ["generate_with_fallback", "stream_with_fallback"]

log = logging.getLogger(__name__)

Resolve = Callable[[str], ModelProfile]
BackendFor = Callable[[ModelProfile], Backend]


def generate_with_fallback(
    profile_name: str,
    resolve: Resolve,
    backend_for: BackendFor,
    messages: Sequence[Message],
    *,
    max_tokens: int | None = None,
) -> Generation:
    """``backend_for(profile).generate(...)`` for ``profile_name``, then its fallbacks while unavailable.

    ``resolve`` maps a profile name to its :class:`ModelProfile`; ``backend_for`` takes the profile only
    (bind the settings first: ``functools.partial(registry.backend_for, settings=settings)``).
    ``max_tokens`` None lets each profile use its own ``max_output_tokens``.
    """
    chain = _Chain(profile_name, resolve)
    while True:
        profile = chain.current
        try:
            return backend_for(profile).generate(profile, messages, max_tokens=max_tokens)
        except ModelUnavailableError as exc:
            chain.advance(exc)


def stream_with_fallback(
    profile_name: str,
    resolve: Resolve,
    backend_for: BackendFor,
    messages: Sequence[Message],
    *,
    max_tokens: int | None = None,
) -> Iterator[StreamEvent]:
    """Like :func:`generate_with_fallback` for streams: hands over only while nothing was emitted yet."""
    chain = _Chain(profile_name, resolve)
    while True:
        profile = chain.current
        emitted = False
        try:
            for event in backend_for(profile).stream(profile, messages, max_tokens=max_tokens):
                emitted = True
                yield event
            return
        except ModelUnavailableError as exc:
            if emitted:
                raise
            chain.advance(exc)


class _Chain:
    """The profiles tried so far; ``advance`` moves to the fallback or raises."""

    def __init__(self, name: str, resolve: Resolve) -> None:
        self._resolve = resolve
        self.current = resolve(name)
        self.tried: list[str] = [self.current.name]
        self.failures: list[ModelUnavailableError] = []

    def advance(self, exc: ModelUnavailableError) -> None:
        self.failures.append(exc)
        profile = self.current
        nxt = profile.fallback
        if not nxt:
            self._give_up(exc, "")
        if nxt in self.tried:
            self._give_up(exc, f" (fallback chain {' → '.join(self.tried + [nxt])} loops; stopped)")
        try:
            fallback = self._resolve(nxt)
        except Exception as err:  # noqa: BLE001 - a broken fallback name is a configuration error
            raise ModelConfigError(
                f"profile {profile.name!r} is unavailable and its fallback {nxt!r} cannot be used ({err}); "
                f"fix fallback = {nxt!r} in the profile. The unavailability was: {exc}",
                profile=profile.name,
            ) from exc
        if fallback.name in self.tried:
            self._give_up(exc, f" (fallback chain {' → '.join(self.tried + [fallback.name])} loops; stopped)")
        log.warning("profile %r unavailable (%s); falling back to %r", profile.name, exc, fallback.name)
        self.tried.append(fallback.name)
        self.current = fallback

    def _give_up(self, last: ModelUnavailableError, note: str) -> None:
        if len(self.failures) == 1 and not note:
            raise last  # no fallback configured: the backend's own error says it all
        waits = [f.retry_after for f in self.failures if f.retry_after is not None]
        summary = "; ".join(f"{name}: {failure}" for name, failure in zip(self.tried, self.failures))
        raise ModelUnavailableError(
            f"no profile could answer{note}: {summary}",
            retry_after=min(waits) if waits else None,
            attempts=sum(f.attempts for f in self.failures),
            profile=self.tried[0],
            base_url=self.failures[0].base_url,
            status=last.status,
        ) from last
