"""The conversation store (api.conversations) on both databases the API's state lives in: the SQLite
file of the embedded default and PostgreSQL (VERIRAG_JOBS_URL, replicas). Owners are kept apart, a
stale write fails instead of losing a turn, and conversations expire."""

from __future__ import annotations

import pytest

from api.conversations import ConversationConflict, ConversationStore, StoredConversation, matched
from api.errors import ApiError
from api.state_db import engine_for
from rag.conversation import Conversation, Turn


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return ConversationStore(tmp_path / "conversations.sqlite3", ttl_s=60)
    server = request.getfixturevalue("postgres_server")
    return ConversationStore(engine_for(server.new_database(), tmp_path, "conversations"), ttl_s=60)


def new(owner: str, conversation_id: str) -> StoredConversation:
    return StoredConversation(owner, conversation_id, "demo", Conversation(), 0, 0.0, 0.0)


TURN = Turn("Which unit is the Kaplan unit?", "Which unit is the Kaplan unit?", (), (), "Unit 3 [S1].")


def test_owners_are_apart_and_a_stale_write_fails(store):
    saved = store.save(new("key-a", "c"), Conversation((TURN,)), now=100.0)
    assert saved.version == 1 and saved.expires_at == 160.0
    assert store.get("key-b", "c", now=101.0) is None  # another key's id space
    loaded = store.get("key-a", "c", now=101.0)
    assert loaded is not None and loaded.conversation.turns == (TURN,)
    # Two requests read version 1: the first write wins, the second is told to ask again.
    store.save(loaded, Conversation((TURN, TURN)), now=102.0)
    with pytest.raises(ConversationConflict) as stale:
        store.save(loaded, Conversation((TURN, TURN)), now=103.0)
    assert stale.value.status == 409 and "ask again" in str(stale.value)
    # Two requests that both start the same id: one of them is told so.
    with pytest.raises(ConversationConflict):
        store.save(new("key-a", "c"), Conversation((TURN,)), now=104.0)


def test_conversations_expire_after_their_last_question(store):
    store.save(new("key-a", "c"), Conversation((TURN,)), now=0.0)
    again = store.get("key-a", "c", now=50.0)
    store.save(again, Conversation((TURN, TURN)), now=50.0)  # a question renews it
    assert store.get("key-a", "c", now=100.0) is not None
    assert store.get("key-a", "c", now=110.0) is None  # 60 s after the last question: gone
    store.save(new("key-a", "c"), Conversation(), now=200.0)  # the id can start afresh
    store.save(new("key-a", "d"), Conversation(), now=0.0)
    assert store.purge_expired(now=230.0) == 1
    assert store.get("key-a", "d", now=0.0) is None and store.get("key-a", "c", now=230.0) is not None


def test_chat_messages_continue_rewind_or_are_refused():
    turn_2 = Turn("At what speed does it trip?", "At what speed does it trip? (Kaplan)", (), (), "287.5 rpm [S2].")
    stored = StoredConversation("k", "c", "demo", Conversation((TURN, turn_2)), 2, 0.0, 60.0)
    history = [{"role": "user", "content": TURN.question}, {"role": "assistant", "content": "whatever the client kept"},
               {"role": "user", "content": turn_2.question}, {"role": "assistant", "content": "x"}]
    assert matched(stored, history) is stored
    assert matched(stored, history[:2]).conversation.turns == (TURN,)  # asking question 2 again
    with pytest.raises(ApiError, match="question 1 differs"):
        matched(stored, [{"role": "user", "content": "Something else?"}])
    with pytest.raises(ApiError, match="carry 3 earlier questions"):
        matched(stored, [*history, {"role": "user", "content": "a third"}])
