// The verdict over the whole answer, shown above it: label, score, what the policy did, the
// warnings and issues, how many claims came out which way, and the answer a policy replaced.

import { h } from "./dom.js";
import { STATUS_WORDS, VERDICT_WORDS, percent } from "./labels.js";

export function verdictSummary(verdict, result) {
  if (!verdict) {
    return h("section", { class: "verdict tone-not_checkable", "aria-label": "Verdict" },
      h("p", {}, "Not checked: this server runs without a verifier."));
  }
  const tone = { supported: "supported", partially_supported: "unsupported", unsupported: "contradicted",
    abstained: "not_checkable" }[verdict.label] || "not_checkable";
  const section = h("section", { class: `verdict tone-${tone}`, "aria-label": "Verdict" },
    h("p", { class: "verdict-line" },
      h("span", { class: `badge tone-${tone}` }, VERDICT_WORDS[verdict.label] || verdict.label),
      ` score ${percent(verdict.score)} · `, policyText(verdict, result)),
    claimCounts(verdict.claims || []));
  // The flag policy's warnings restate the issues for readers; without warnings the issues speak.
  const notes = verdict.warnings && verdict.warnings.length ? verdict.warnings : verdict.issues || [];
  const unique = [...new Set(notes)];
  if (unique.length) section.append(h("ul", { class: "verdict-notes" }, unique.map((note) => h("li", {}, note))));
  const replaced = replacedAnswer(verdict, result);
  if (replaced) section.append(replaced);
  return section;
}

function policyText(verdict, result) {
  switch (verdict.policy_action) {
    case "accept":
      return "policy: accept (the verdict is reported, the answer left as it is)";
    case "flag":
      return "policy: flag (the answer is sent with the warnings below)";
    case "retry": {
      const previous = verdict.previous;
      const kept = result && result.replaced_answer ? "the second attempt was kept" : "the first answer was kept";
      const other = previous ? ` (the other attempt: ${VERDICT_WORDS[previous.label] || previous.label}, `
        + `score ${percent(previous.score)})` : "";
      return `policy: retry — the model was asked once more with the verifier's findings; ${kept}${other}`;
    }
    case "abstain":
      return "policy: abstain — the answer was not supported by the sources, so it was replaced";
    default:
      return `policy: ${verdict.policy_action}`;
  }
}

function claimCounts(claims) {
  const counts = {};
  for (const claim of claims) {
    if (claim.origin !== "answer") continue;
    counts[claim.status] = (counts[claim.status] || 0) + 1;
  }
  const parts = Object.entries(counts).map(([status, n]) => `${n} ${STATUS_WORDS[status] || status}`);
  return h("p", { class: "verdict-counts" }, parts.length ? `Answer claims: ${parts.join(", ")}.` : "No claims to check.");
}

function replacedAnswer(verdict, result) {
  if (!result || !result.replaced_answer) return null;
  const what = verdict.policy_action === "abstain" ? "Show the model's answer that was replaced"
    : "Show the first attempt's answer";
  return h("details", { class: "replaced" },
    h("summary", {}, what),
    h("blockquote", { class: "replaced-text" }, result.replaced_answer));
}
