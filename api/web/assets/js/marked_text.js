// An answer or a reasoning trace drawn with its checked claims marked (colour and badge, focusable)
// and its [S#] citations as links to the sources.

import { h } from "./dom.js";
import { locate, segments, splitCitations } from "./spans.js";

// marks: [{index, claim, tone, badge}] — index is the claim's place in verdict.claims.
export function renderMarkedText(container, text, marks, { knownLabels, onCite, onClaim }) {
  const ranges = [];
  for (const mark of marks) {
    const span = locate(text, mark.claim.char_start, mark.claim.char_end, mark.claim.text);
    if (span) ranges.push({ start: span[0], end: span[1], mark });
  }
  const nodes = [];
  for (const piece of segments(text.length, ranges)) {
    const pieceText = text.slice(piece.start, piece.end);
    const content = citedText(pieceText, knownLabels, onCite);
    if (!piece.covering.length) {
      nodes.push(...content);
      continue;
    }
    const range = ranges[piece.covering[0]];
    const { mark } = range;
    const element = h("span", {
      class: `claim tone-${mark.tone}`, tabindex: "0", dataset: { claim: String(mark.index) },
    }, content);
    if (piece.end === range.end) element.append(" ", h("span", { class: `badge tone-${mark.tone}` }, mark.badge));
    const activate = () => onClaim(mark.index);
    element.addEventListener("mouseenter", activate);
    element.addEventListener("focus", activate);
    nodes.push(element);
  }
  container.replaceChildren(...nodes);
}

export function citedText(text, knownLabels, onCite) {
  const nodes = [];
  for (const piece of splitCitations(text)) {
    if (!piece.labels) {
      nodes.push(document.createTextNode(piece.text));
      continue;
    }
    nodes.push("[");
    piece.labels.forEach((label, i) => {
      if (i) nodes.push(", ");
      if (knownLabels.has(label)) {
        nodes.push(h("a", {
          class: "cite", href: `#source-${label}`, dataset: { label },
          onclick: (event) => { event.preventDefault(); onCite(label); },
        }, label));
      } else {
        nodes.push(h("span", { class: "cite-unknown", title: "no source with this label was given" }, label));
      }
    });
    nodes.push("]");
  }
  return nodes;
}

// Keeps a claim's highlighted state on the page: the one being inspected is outlined.
export function setActiveClaim(root, index) {
  for (const element of root.querySelectorAll(".claim.active")) element.classList.remove("active");
  if (index === null || index === undefined) return;
  for (const element of root.querySelectorAll(`.claim[data-claim="${index}"]`)) element.classList.add("active");
}
