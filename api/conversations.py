"""Conversations kept between requests: a conversation id's turns, sources and prompt layout.

A client names a conversation with any id it chooses (``"conversation": "…"`` on /v1/query and
/v1/chat/completions); the first question under an unknown id starts it. Each key has its own ids:
one key never reads, continues or learns of another's conversation. The state (rag.conversation: every
turn's question, the sources it sent and the answer) lives beside the job state — the SQLite file
``conversations.sqlite3`` under the data directory, or the PostgreSQL database of ``VERIRAG_JOBS_URL``
that replicas share (api.state_db) — and expires ``VERIRAG_API_CONVERSATION_TTL_S`` after its last
question. A version number guards each write: two questions answered at once in one conversation
cannot silently lose one of them (the second gets 409 and asks again).

:func:`begin` turns a request into a conversation's turn (before anything is retrieved);
:meth:`ConversationTurn.finish` stores the answered turn and gives the response's ``conversation``
object.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from api.errors import ApiError
from api.state_db import StateTables
from rag.conversation import ChatLayout, Conversation, begin_turn
from rag.pipeline import AnswerRequest, AnswerResult

METADATA = MetaData()
CONVERSATIONS = Table(
    "conversations", METADATA,
    Column("owner", String, primary_key=True),  # the key's id: ids are per key
    Column("id", String, primary_key=True),
    Column("collection", String, nullable=False),
    Column("state", Text, nullable=False),  # rag.conversation.Conversation.to_dict as JSON
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("conversations_by_expiry", "expires_at"),
)  # fmt: skip


@dataclass(frozen=True)
class StoredConversation:
    owner: str
    id: str
    collection: str
    conversation: Conversation
    version: int  # 0: not stored yet
    created_at: float
    expires_at: float


class ConversationStore(StateTables):
    """``source``: the table's own SQLite file, or an engine from api.state_db.engine_for. Safe to share
    between threads."""

    METADATA = METADATA

    def __init__(self, source: Path | Engine, ttl_s: float):
        if ttl_s <= 0:
            raise ValueError(f"a conversation's lifetime must be above 0 seconds, got {ttl_s}")
        super().__init__(source)
        self.ttl_s = ttl_s

    def get(self, owner: str, conversation_id: str, now: float | None = None) -> StoredConversation | None:
        """The live conversation, or None (never started, deleted, or expired: an expired one is removed)."""
        now = time.time() if now is None else now
        table = CONVERSATIONS
        with self.engine.connect() as db:
            row = db.execute(select(table).where(table.c.owner == owner, table.c.id == conversation_id)).first()
        if row is None:
            return None
        if row.expires_at <= now:
            self.delete(owner, conversation_id)
            return None
        return StoredConversation(row.owner, row.id, row.collection, Conversation.from_dict(json.loads(row.state)),
                                  row.version, row.created_at, row.expires_at)

    def save(self, stored: StoredConversation, conversation: Conversation,
             now: float | None = None) -> StoredConversation:
        """Write ``conversation`` over ``stored`` (version 0: a new one); :class:`ConversationConflict` when
        another request changed or started it since it was read."""
        now = time.time() if now is None else now
        table = CONVERSATIONS
        state = json.dumps(conversation.to_dict(), ensure_ascii=False)
        expires = now + self.ttl_s
        with self.engine.begin() as db:
            if stored.version == 0:
                # An expired row of the same id may still be there: it is gone for good now.
                db.execute(delete(table).where(table.c.owner == stored.owner, table.c.id == stored.id,
                                               table.c.expires_at <= now))
                try:
                    db.execute(insert(table).values(owner=stored.owner, id=stored.id, collection=stored.collection,
                                                    state=state, version=1, created_at=now, updated_at=now,
                                                    expires_at=expires))
                except IntegrityError:
                    raise ConversationConflict(stored.id) from None
            else:
                changed = db.execute(
                    update(table).where(table.c.owner == stored.owner, table.c.id == stored.id,
                                        table.c.version == stored.version)
                    .values(state=state, version=stored.version + 1, updated_at=now, expires_at=expires)
                ).rowcount
                if changed != 1:
                    raise ConversationConflict(stored.id)
        return StoredConversation(stored.owner, stored.id, stored.collection, conversation, stored.version + 1,
                                  stored.created_at if stored.version else now, expires)

    def delete(self, owner: str, conversation_id: str) -> bool:
        table = CONVERSATIONS
        with self.engine.begin() as db:
            return db.execute(delete(table).where(table.c.owner == owner, table.c.id == conversation_id)).rowcount > 0

    def purge_expired(self, now: float | None = None) -> int:
        """Remove every expired conversation; how many went."""
        now = time.time() if now is None else now
        with self.engine.begin() as db:
            return db.execute(delete(CONVERSATIONS).where(CONVERSATIONS.c.expires_at <= now)).rowcount



class ConversationConflict(ApiError):
    def __init__(self, conversation_id: str):
        super().__init__(409, "conflict", f"conversation {conversation_id!r} was changed by another request while "
                         "this one was answered; ask again", param="conversation")


@dataclass
class ConversationTurn:
    """One question of a stored conversation, between :func:`begin` and :meth:`finish`."""

    store: ConversationStore
    stored: StoredConversation
    layout: ChatLayout

    def finish(self, result: AnswerResult) -> dict[str, Any]:
        """Store the answered turn; the response's ``conversation`` object."""
        planned = self.layout.planned
        saved = self.store.save(self.stored, self.layout.record(result.answer, result.passages))
        return {"id": saved.id, "turn": len(saved.conversation.turns), "expires_at": round(saved.expires_at, 3),
                "retrieval_query": planned.search if planned and planned.search != planned.question else None,
                "new_sources": [p.label for p in planned.sources] if planned else [],
                "sources_given_before": list(planned.given_before) if planned else [],
                "dropped_turns": planned.dropped_turns if planned else 0}


def load(store: ConversationStore, owner: str, conversation_id: str, collection: str) -> StoredConversation:
    """The conversation to continue, or a new one (version 0) under this id."""
    stored = store.get(owner, conversation_id)
    if stored is None:
        return StoredConversation(owner, conversation_id, collection, Conversation(), 0, time.time(), 0.0)
    if stored.collection != collection:
        raise ApiError(409, "conflict", f"conversation {conversation_id!r} answers from collection "
                       f"{stored.collection!r}, not {collection!r}; use another conversation id for another "
                       "collection", param="conversation")
    return stored


def matched(stored: StoredConversation, history: Sequence[Mapping[str, Any]]) -> StoredConversation:
    """The stored conversation as far as a chat client's ``messages`` carry it: the same earlier questions
    (all of them: continue; the first n of them: rewound to n, as when a client asks a question again)."""
    asked = [str(m.get("content") or "").strip() for m in history if m.get("role") == "user"]
    kept = [turn.question.strip() for turn in stored.conversation.turns]
    if asked == kept[: len(asked)]:
        if len(asked) == len(kept):
            return stored
        return StoredConversation(stored.owner, stored.id, stored.collection,
                                  stored.conversation.rewound(len(asked)), stored.version, stored.created_at,
                                  stored.expires_at)
    if not kept:
        raise ApiError(409, "conflict", f"conversation {stored.id!r} has no earlier questions, but the messages "
                       f"carry {len(asked)}: start a conversation id with its first question, or send none",
                       param="conversation")
    same = min(len(asked), len(kept))
    at = next((i for i in range(same) if asked[i] != kept[i]), same)
    why = (f"its question {at + 1} differs" if at < same
           else f"they carry {len(asked)} earlier questions, it holds {len(kept)}")
    raise ApiError(409, "conflict", f"the messages do not continue conversation {stored.id!r} ({why}); "
                   "start a new conversation id", param="conversation")


def begin(store: ConversationStore, owner: str, conversation_id: str, collection: str, request: AnswerRequest,
          *, rewrite: bool, keep_share: float,
          history: Sequence[Mapping[str, Any]] | None = None) -> tuple[AnswerRequest, ConversationTurn]:
    """``request`` as the next turn of the conversation (``history``: a chat client's earlier messages,
    matched against the stored turns)."""
    stored = load(store, owner, conversation_id, collection)
    if history is not None:
        stored = matched(stored, history)
    turn_request, layout = begin_turn(stored.conversation, request, rewrite=rewrite, keep_share=keep_share)
    return turn_request, ConversationTurn(store, stored, layout)


__all__ = ["ConversationConflict", "ConversationStore", "ConversationTurn", "StoredConversation", "begin",
           "load", "matched"]
