// One question and what came back: the status line (what the page is waiting for, and why), the
// reasoning trace (collapsible, streamed first, misreadings of a source marked), the verdict
// summary, and the answer with each checked claim marked and its citations linked.

import { byId, h, replaceChildren } from "./dom.js";
import { claimBadge, claimTone } from "./labels.js";
import { renderMarkedText, setActiveClaim } from "./marked_text.js";
import { verdictSummary } from "./verdict_summary.js";

export class TurnView {
  constructor(sources) {
    this.root = byId("turn");
    this.sources = sources;
    this.sources.onClaimShown = (index) => setActiveClaim(this.root, index);
    this.reasoning = "";
    this.answer = "";
    this.verdict = null;
    this.pending = false;
  }

  start(turn) {
    this.reasoning = "";
    this.answer = "";
    this.verdict = null;
    this.question = h("h2", { class: "question", tabindex: "-1" }, turn.question);
    this.statusLine = h("p", { class: "status", role: "status" }, "Retrieving passages…");
    this.holdNotice = h("p", { class: "hold-notice", hidden: true });
    this.traceText = h("div", { class: "trace-text" });
    this.traceSummary = h("summary", {}, "Reasoning trace");
    this.trace = h("details", { class: "trace", open: true, hidden: true }, this.traceSummary, this.traceText);
    this.summary = h("div", { class: "verdict-host" });
    this.answerText = h("div", { class: "answer", "aria-label": "Answer" });
    this.errorLine = h("p", { class: "turn-error", role: "alert", hidden: true });
    replaceChildren(this.root, this.question, this.statusLine, this.holdNotice, this.trace, this.summary,
      this.answerText, this.errorLine);
  }

  status(text) {
    this.statusLine.textContent = text;
  }

  // What the retrieval event says the server will hold back, and why (docs/api.md, Streaming).
  holding({ verify, answer_held: answerHeld, reasoning_held: reasoningHeld }) {
    let text = null;
    if (reasoningHeld) {
      text = "This server checks every answer before it leaves (a moderation hook), so the reasoning and the answer "
        + "arrive together once the answer is checked.";
    } else if (answerHeld && (verify === "retry" || verify === "abstain")) {
      text = `Under the ${verify} policy the answer is held back until the verifier has checked it: the reasoning `
        + "streams now, the answer follows once it is verified"
        + (verify === "retry" ? " (a second attempt may replace an unsupported first draft)." : " (an unsupported "
          + "answer is replaced by an abstention).");
    } else if (answerHeld) {
      text = "This server checks every answer before it leaves, so the answer arrives whole once it is checked.";
    }
    this.holdNotice.hidden = !text;
    this.holdNotice.textContent = text || "";
  }

  addReasoning(text) {
    this.reasoning += text;
    this.trace.hidden = false;
    this.schedule();
  }

  addAnswer(text) {
    if (!this.answer && this.trace.open && this.reasoning) {
      this.trace.open = false; // the answer has begun: the trace folds away, one click brings it back
    }
    this.answer += text;
    this.schedule();
  }

  // Streamed text is redrawn at most once a frame, not once a delta.
  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  setVerdict(verdict, result = null) {
    this.verdict = verdict;
    replaceChildren(this.summary, verdictSummary(verdict, result));
    this.sources.setClaims(verdict ? verdict.claims : []);
    this.draw();
  }

  finish(result) {
    this.reasoning = result.reasoning || "";
    this.answer = result.answer || "";
    this.trace.hidden = !this.reasoning;
    this.setVerdict(result.verdict, result);
  }

  fail(message) {
    this.errorLine.hidden = false;
    this.errorLine.textContent = message;
  }

  draw() {
    const claims = (this.verdict && this.verdict.claims) || [];
    const options = {
      knownLabels: this.sources.labels(),
      onCite: (label) => this.sources.open(label),
      onClaim: (index) => this.sources.showClaim(index),
    };
    const answerMarks = [];
    const traceMarks = [];
    claims.forEach((claim, index) => {
      if (claim.origin === "answer" && claim.kind !== "repeated") {
        answerMarks.push({ index, claim, tone: claimTone(claim), badge: claimBadge(claim) });
      } else if (claim.origin === "trace" && claim.status === "contradicted") {
        const source = claim.evidence ? claim.evidence.source_label : (claim.citations || []).join(", ");
        traceMarks.push({ index, claim, tone: "contradicted", badge: `misstates ${source || "a source"}` });
      }
    });
    renderMarkedText(this.answerText, this.answer, answerMarks, options);
    if (!this.answer) this.answerText.replaceChildren();
    renderMarkedText(this.traceText, this.reasoning, traceMarks, options);
    if (traceMarks.length) {
      this.traceSummary.textContent = `Reasoning trace — misstates a source (${traceMarks.length})`;
      this.trace.open = true;
    } else {
      this.traceSummary.textContent = "Reasoning trace";
    }
    if (this.sources.activeClaim !== null) setActiveClaim(this.root, this.sources.activeClaim);
  }
}
