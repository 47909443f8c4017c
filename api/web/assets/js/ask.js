// Asking: the question form (Enter sends, Shift+Enter breaks the line), then /v1/query's event
// stream read into the turn view and the sources panel as it arrives.

import { ApiError, apiFetch } from "./api.js";
import { byId, h, replaceChildren } from "./dom.js";
import { describeError } from "./messages.js";
import { readEvents } from "./sse.js";

const COLLECTION_KEY = "verirag.collection";

export class Asker {
  constructor({ turnView, sources, history }) {
    this.turnView = turnView;
    this.sources = sources;
    this.history = history;
    this.form = byId("ask-form");
    this.question = byId("question");
    this.collection = byId("ask-collection");
    this.model = byId("ask-model");
    this.verify = byId("ask-verify");
    this.sendButton = byId("ask-send");
    this.stopButton = byId("ask-stop");
    this.formMessage = byId("ask-message");
    this.controller = null;
    this.question.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask();
    });
    this.stopButton.addEventListener("click", () => this.controller && this.controller.abort());
    this.collection.addEventListener("change", () => sessionStorage.setItem(COLLECTION_KEY, this.collection.value));
  }

  setCollections(collections) {
    const preferred = this.collection.value || sessionStorage.getItem(COLLECTION_KEY);
    const options = collections.map((c) => h("option", { value: c.name }, c.documents === null ? c.name
      : `${c.name} (${c.documents} document${c.documents === 1 ? "" : "s"})`));
    replaceChildren(this.collection, options.length ? options
      : h("option", { value: "" }, "the server's default collection"));
    if (preferred && collections.some((c) => c.name === preferred)) this.collection.value = preferred;
  }

  // The profiles that can answer now (GET /v1/models, the default first); the others are left out.
  setModels(models) {
    const usable = models.filter((m) => !m.verirag || m.verirag.usable);
    const options = usable.map((m) => {
      const name = m.id.replace(/^verirag\//, "");
      return h("option", { value: name }, m.verirag && m.verirag.default ? `${name} (default)` : name);
    });
    replaceChildren(this.model, options.length ? options : h("option", { value: "" }, "the server's default model"));
  }

  busy(asking) {
    this.sendButton.disabled = asking;
    this.stopButton.hidden = !asking;
  }

  async ask() {
    const question = this.question.value.trim();
    if (!question) {
      this.formMessage.textContent = "Write a question first.";
      this.question.focus();
      return;
    }
    this.formMessage.textContent = "";
    const body = { question, stream: true, reasoning: "include" };
    if (this.collection.value) body.collection = this.collection.value;
    if (this.model.value) body.model = this.model.value;
    if (this.verify.value) body.verify = this.verify.value;
    const earlier = this.history.followUpMessages();
    if (earlier.length) body.history = earlier;
    const turn = this.history.begin({ question, collection: body.collection, model: body.model, verify: body.verify });
    this.turnView.start(turn);
    this.sources.reset();
    this.question.value = "";
    this.controller = new AbortController();
    this.busy(true);
    try {
      turn.result = await this.stream(body, this.controller.signal);
      turn.status = "done";
    } catch (error) {
      turn.status = "failed";
      turn.error = error.name === "AbortError" ? "Stopped before the answer was complete."
        : describeError(error, "answering the question");
      this.turnView.status("No answer.");
      this.turnView.fail(turn.error);
      if (!this.question.value) this.question.value = question; // to send again as it was
    } finally {
      this.controller = null;
      this.busy(false);
      this.history.update(turn);
    }
  }

  async stream(body, signal) {
    const response = await apiFetch("/v1/query", { method: "POST", json: body, signal });
    let answering = false;
    for await (const { event, data } of readEvents(response)) {
      const payload = JSON.parse(data);
      if (event === "retrieval") {
        this.sources.setPassages(payload.passages, payload.collection);
        this.turnView.holding(payload);
        this.turnView.status(`${payload.passages.length} passages retrieved from ${payload.collection}; `
          + "the model is reading them…");
      } else if (event === "reasoning") {
        this.turnView.addReasoning(payload.text);
        if (!answering) this.turnView.status("The model is reasoning…");
      } else if (event === "answer") {
        answering = true;
        this.turnView.addAnswer(payload.text);
        this.turnView.status("Answering… the verifier checks the answer once it is complete.");
      } else if (event === "verification") {
        this.turnView.setVerdict(payload.verdict);
        this.turnView.status("Checked by the verifier.");
      } else if (event === "done") {
        this.turnView.finish(payload);
        this.turnView.status(doneLine(payload));
        return payload;
      } else if (event === "error") {
        throw new ApiError(payload.status, payload, null);
      }
    }
    throw new Error("the answer stream ended before the answer was complete");
  }

  // An earlier turn, drawn again from what was kept of it.
  show(turn) {
    this.turnView.start(turn);
    this.sources.reset();
    if (turn.result) {
      this.sources.setPassages(turn.result.passages, turn.result.collection);
      this.turnView.finish(turn.result);
      this.turnView.status(`Asked earlier in this session. ${doneLine(turn.result)}`);
    } else {
      this.turnView.status("No answer.");
      this.turnView.fail(turn.error || "This question got no answer.");
    }
  }
}

function doneLine(result) {
  const t = result.timings || {};
  const seconds = ["retrieve", "generate", "verify", "retry_generate", "retry_verify"]
    .reduce((sum, key) => sum + (t[key] || 0), 0);
  return `Answered by ${result.model} in ${seconds.toFixed(1)} s.`;
}
