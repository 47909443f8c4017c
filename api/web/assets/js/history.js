// Earlier questions of this browser session (sessionStorage: gone with the tab), grouped into
// conversations. A follow-up sends the current conversation's earlier turns with the question
// (/v1/query's `history`), so the model reads what it answered before.

import { byId, h, replaceChildren } from "./dom.js";
import { VERDICT_WORDS } from "./labels.js";

const STORAGE_KEY = "verirag.history";
const MAX_TURNS = 30;
const MAX_HISTORY_MESSAGES = 40; // the API's default bound (VERIRAG_API_MAX_HISTORY_MESSAGES)

export class History {
  constructor({ onSelect }) {
    this.list = byId("history-list");
    this.conversationLine = byId("conversation-line");
    this.onSelect = onSelect;
    this.turns = load();
    this.conversation = null;
    this.shown = null;
    byId("new-conversation").addEventListener("click", () => this.newConversation());
    this.render();
  }

  newConversation() {
    this.conversation = null;
    this.render();
  }

  begin(fields) {
    if (this.conversation === null) this.conversation = newId();
    const turn = { id: newId(), conversation: this.conversation, status: "running", ...fields };
    this.turns.push(turn);
    this.shown = turn.id;
    this.save();
    return turn;
  }

  update(turn) {
    this.save();
    return turn;
  }

  // The earlier turns of the current conversation, as /v1/query takes them.
  followUpMessages() {
    if (this.conversation === null) return [];
    const messages = [];
    for (const turn of this.turns) {
      if (turn.conversation !== this.conversation || turn.status !== "done" || !turn.result) continue;
      messages.push({ role: "user", content: turn.question }, { role: "assistant", content: turn.result.answer });
    }
    return messages.slice(-MAX_HISTORY_MESSAGES);
  }

  save() {
    while (this.turns.length > MAX_TURNS) this.turns.shift();
    for (;;) {
      try {
        sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.turns));
        break;
      } catch {
        if (!this.turns.length) break;
        this.turns.shift(); // over the storage quota: the oldest turn goes first
      }
    }
    this.render();
  }

  render() {
    const current = this.turns.filter((t) => t.conversation === this.conversation);
    this.conversationLine.textContent = current.length
      ? `Follow-up questions continue this conversation (${current.length} so far).`
      : "A new conversation starts with the next question.";
    byId("new-conversation").disabled = !current.length;
    const items = [...this.turns].reverse().map((turn) => {
      const verdict = turn.result && turn.result.verdict;
      const state = turn.status === "failed" ? "failed" : turn.status === "running" ? "answering…"
        : verdict ? VERDICT_WORDS[verdict.label] || verdict.label : "answered";
      return h("li", { class: turn.conversation === this.conversation ? "in-conversation" : null },
        h("button", {
          type: "button", class: "history-item", "aria-current": turn.id === this.shown ? "true" : null,
          onclick: () => this.select(turn),
        }, h("span", { class: "history-question" }, turn.question),
        h("span", { class: "history-meta" }, `${turn.collection || "default"} · ${state}`)));
    });
    replaceChildren(this.list, items.length ? items : h("li", { class: "muted" }, "No questions yet."));
  }

  select(turn) {
    this.shown = turn.id;
    this.conversation = turn.conversation; // asking now follows up on that conversation
    this.render();
    this.onSelect(turn);
  }
}

// crypto.randomUUID needs a secure context, and a server reached over plain http on a LAN is not one.
function newId() {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

function load() {
  try {
    const turns = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "[]");
    // A turn still "running" when the page was left never finished.
    return turns.map((t) => (t.status === "running" ? { ...t, status: "failed", error: "interrupted" } : t));
  } catch {
    return [];
  }
}
