// The sources panel: the passages the model was given, one of them open with the evidence of each
// claim highlighted (text, or the PDF page itself when the server holds the uploaded PDF), and the
// details of the claim being inspected: judge, confidence, notes.

import { byId, h, replaceChildren, scrollWithin } from "./dom.js";
import { JUDGE_WORDS, claimBadge, claimTone, percent } from "./labels.js";
import { describeError } from "./messages.js";
import { loadPdf, pageHolding, renderPdfPage } from "./pdf_view.js";
import { locate, segments } from "./spans.js";

export class SourcesView {
  constructor() {
    this.list = byId("source-list");
    this.viewer = byId("source-viewer");
    this.detail = byId("claim-detail");
    this.passages = [];
    this.claims = [];
    this.collection = null;
    this.openLabel = null;
    this.activeClaim = null;
    this.pdfPreferred = true;
    this.onClaimShown = () => {};
  }

  reset() {
    this.passages = [];
    this.claims = [];
    this.openLabel = null;
    this.activeClaim = null;
    replaceChildren(this.list);
    replaceChildren(this.viewer, h("p", { class: "muted" }, "Ask a question: the passages the model reads appear here."));
    replaceChildren(this.detail);
  }

  labels() {
    return new Set(this.passages.map((p) => p.label));
  }

  setPassages(passages, collection) {
    this.passages = passages;
    this.collection = collection;
    this.renderList();
    if (!passages.length) replaceChildren(this.viewer, h("p", { class: "muted" }, "No passage was retrieved."));
    else if (!this.openLabel) replaceChildren(this.viewer, h("p", { class: "muted" }, "Open a source, or follow a citation."));
  }

  setClaims(claims) {
    // The verification event and the done event carry the same verdict: draw (and fetch a PDF) once.
    if (JSON.stringify(claims || []) === JSON.stringify(this.claims)) return;
    this.claims = claims || [];
    this.renderList();
    if (this.openLabel) this.open(this.openLabel, { focus: false });
  }

  renderList() {
    const items = this.passages.map((passage) => {
      const counts = {};
      for (const claim of this.claims) {
        if (claim.evidence && claim.evidence.source_label === passage.label && claim.origin === "answer") {
          const tone = claimTone(claim);
          counts[tone] = (counts[tone] || 0) + 1;
        }
      }
      const chips = Object.entries(counts).map(([tone, n]) => h("span", { class: `chip tone-${tone}` },
        `${n} ${tone === "citation" ? "citation issue" : tone.replace("_", " ")}`));
      return h("li", {},
        h("button", {
          type: "button", class: "source-item", id: `source-${passage.label}`, "aria-controls": "source-viewer",
          title: [passage.title, whereIs(passage)].filter(Boolean).join(" — "),
          "aria-current": passage.label === this.openLabel ? "true" : null,
          onclick: () => this.open(passage.label),
        },
        h("span", { class: "source-label" }, passage.label),
        h("span", { class: "source-name" }, passage.title || passage.source || passage.doc_id),
        h("span", { class: "source-meta" }, whereIs(passage))),
        chips.length ? h("span", { class: "chips" }, chips) : null);
    });
    replaceChildren(this.list, items);
  }

  passage(label) {
    return this.passages.find((p) => p.label === label) || null;
  }

  // Opens a passage; `focus` moves the keyboard there (a followed citation), hovering does not.
  async open(label, { focus = true } = {}) {
    const passage = this.passage(label);
    if (!passage) return;
    this.openLabel = label;
    for (const button of this.list.querySelectorAll(".source-item")) {
      if (button.id === `source-${label}`) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
    const title = h("h3", { id: "viewer-title", tabindex: "-1" }, `${label} · ${passage.title || passage.source}`);
    const isPdf = /\.pdf$/i.test(passage.source || passage.doc_id || "");
    const body = h("div", { class: "viewer-body" });
    const switcher = isPdf ? this.viewSwitch(label) : null;
    replaceChildren(this.viewer, title, h("p", { class: "source-meta" }, whereIs(passage), sectionOf(passage)),
      switcher, body);
    if (focus) title.focus();
    if (isPdf && this.pdfPreferred) await this.showPdf(passage, body);
    else this.showText(passage, body);
  }

  viewSwitch(label) {
    const button = (text, pdf) => h("button", {
      type: "button", class: "toggle", "aria-pressed": String(this.pdfPreferred === pdf),
      onclick: () => { this.pdfPreferred = pdf; this.open(label, { focus: false }); },
    }, text);
    return h("div", { class: "view-switch", role: "group", "aria-label": "How to show this source" },
      button("PDF page", true), button("Text", false));
  }

  // The answer's claims with evidence in this source, and the claim being inspected (a trace claim too).
  highlights(label) {
    return this.claims
      .map((claim, index) => ({ claim, index }))
      .filter(({ claim, index }) => claim.evidence && claim.evidence.source_label === label
        && (claim.origin === "answer" || index === this.activeClaim));
  }

  showText(passage, body) {
    const text = passage.text || "";
    const ranges = [];
    for (const { claim, index } of this.highlights(passage.label)) {
      const ev = claim.evidence;
      const span = locate(text, ev.char_start, ev.char_end, ev.text);
      if (span) ranges.push({ start: span[0], end: span[1], index, tone: claimTone(claim) });
    }
    const nodes = segments(text.length, ranges).map((piece) => {
      const pieceText = text.slice(piece.start, piece.end);
      if (!piece.covering.length) return pieceText;
      const covering = piece.covering.map((i) => ranges[i]);
      const active = covering.some((r) => r.index === this.activeClaim);
      const tone = (covering.find((r) => r.index === this.activeClaim) || covering[0]).tone;
      return h("mark", {
        class: `evidence tone-${tone}${active ? " active" : ""}`,
        dataset: { claims: covering.map((r) => r.index).join(" ") },
      }, pieceText);
    });
    replaceChildren(body, h("div", { class: "source-text", tabindex: "0", "aria-label": `Text of ${passage.label}` },
      nodes));
    scrollWithin(body.querySelector(".source-text"), body.querySelector("mark.active"));
  }

  async showPdf(passage, body) {
    replaceChildren(body, h("p", { class: "muted", role: "status" }, "Loading the PDF page…"));
    try {
      const pdf = await loadPdf(this.collection, passage.doc_id);
      if (this.openLabel !== passage.label) return; // another source was opened meanwhile
      if (!pdf) {
        this.showText(passage, body);
        body.prepend(h("p", { class: "muted fallback-note" },
          "The server holds no uploaded PDF of this document (it was ingested from a folder), so its text is shown."));
        return;
      }
      const marks = this.highlights(passage.label).map(({ claim, index }) => ({
        text: claim.evidence.text, tone: claimTone(claim), active: index === this.activeClaim, claims: [index],
      }));
      const active = this.claims[this.activeClaim];
      const evidence = active && active.evidence && active.evidence.source_label === passage.label ? active.evidence
        : null;
      const candidates = [...new Set([evidence && evidence.page, ...(passage.pages || []), passage.page]
        .filter((n) => Number.isInteger(n)))];
      const wanted = evidence ? evidence.text : marks.length ? marks[0].text : null;
      const page = await pageHolding(pdf, candidates.length ? candidates : [1], wanted);
      if (this.openLabel !== passage.label) return;
      const host = h("div", { class: "pdf-host" });
      replaceChildren(body, host);
      const shown = await renderPdfPage(host, pdf, page, marks);
      body.prepend(h("p", { class: "source-meta" }, `PDF page ${shown.page} of ${shown.pages}`
        + (marks.length && !shown.found ? " — the evidence could not be found on the page's text layer" : "")));
    } catch (error) {
      this.showText(passage, body);
      body.prepend(h("p", { class: "muted fallback-note" }, `${describeError(error, "loading the PDF")} The text is shown.`));
    }
  }

  // A claim is being inspected (hovered or focused): its evidence opens, highlighted, with its details.
  showClaim(index) {
    const claim = this.claims[index];
    if (!claim) return;
    this.activeClaim = index;
    replaceChildren(this.detail, claimDetail(claim));
    const label = claim.evidence ? claim.evidence.source_label : null;
    if (label && this.passage(label)) {
      if (label === this.openLabel && claim.origin === "answer") this.refreshMarks();
      else if (label === this.openLabel) this.open(label, { focus: false }); // a trace claim: not drawn until now
      else this.open(label, { focus: false });
    } else {
      for (const mark of this.viewer.querySelectorAll(".evidence.active")) mark.classList.remove("active");
    }
    this.onClaimShown(index);
  }

  // The open source shows another claim's evidence as the active one, in that claim's colour.
  refreshMarks() {
    const body = this.viewer.querySelector(".viewer-body");
    if (body && body.querySelector(".source-text") && !body.querySelector(".fallback-note")) {
      this.showText(this.passage(this.openLabel), body);
      return;
    }
    const claim = this.claims[this.activeClaim];
    let first = null;
    for (const mark of this.viewer.querySelectorAll(".evidence")) {
      const claims = (mark.dataset.claims || "").split(" ").map(Number);
      const active = claims.includes(this.activeClaim);
      mark.classList.toggle("active", active);
      if (active && claim) retone(mark, claimTone(claim));
      if (active && !first) first = mark;
    }
    if (first) scrollWithin(first.closest(".pdf-host, .source-text"), first);
    else if (this.viewer.querySelector(".pdf-page")) this.open(this.openLabel, { focus: false });
  }
}

function retone(element, tone) {
  for (const name of [...element.classList]) if (name.startsWith("tone-")) element.classList.remove(name);
  element.classList.add(`tone-${tone}`);
}

function whereIs(passage) {
  const pages = passage.pages && passage.pages.length > 1 ? `pages ${passage.pages[0]}–${passage.pages.at(-1)}`
    : passage.page ? `page ${passage.page}` : null;
  return [passage.source || passage.doc_id, pages].filter(Boolean).join(" · ");
}

function sectionOf(passage) {
  const path = passage.section_path || [];
  return path.length ? ` · ${path.join(" › ")}` : "";
}

function claimDetail(claim) {
  const tone = claimTone(claim);
  const rows = [
    ["Judge", JUDGE_WORDS[claim.judge] || claim.judge],
    ["Confidence", claim.status === "not_checkable" ? "—" : percent(claim.confidence)],
    ["Evidence", claim.evidence ? `${claim.evidence.source_label}${claim.evidence.page ? `, page ${claim.evidence.page}` : ""}`
      : "none found in the sources"],
    ["Cited", claim.citations && claim.citations.length ? claim.citations.join(", ") : "nothing"],
  ];
  if (claim.probabilities) {
    const p = claim.probabilities;
    rows.push(["Entailment model", `supported ${percent(p.supported)}, not supported ${percent(p.not_supported)}, `
      + `contradicted ${percent(p.contradicted)}`]);
  }
  return h("div", { class: `claim-detail tone-${tone}` },
    h("p", {}, h("span", { class: `badge tone-${tone}` }, claimBadge(claim)),
      ` ${claim.origin === "trace" ? "Reasoning" : "Answer"} claim: `, h("q", {}, claim.text)),
    h("dl", {}, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    claim.notes && claim.notes.length ? h("ul", { class: "claim-notes" }, claim.notes.map((n) => h("li", {}, n))) : null);
}
