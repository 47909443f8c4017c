// Words for the verifier's findings, the same words the CLI and docs/api.md use.

export const STATUS_WORDS = {
  supported: "supported",
  contradicted: "contradicted",
  unsupported: "unsupported",
  undecided: "undecided",
  not_checkable: "not checkable",
};

export const CITATION_ISSUE_WORDS = {
  miscited: "miscited",
  uncited: "uncited",
  unknown: "cites an unknown source",
};

export const VERDICT_WORDS = {
  supported: "Supported",
  partially_supported: "Partly supported",
  unsupported: "Unsupported",
  abstained: "Abstained",
};

export const JUDGE_WORDS = {
  exact: "exact check (numbers, names, negation)",
  entailment: "entailment model",
  semantic: "similarity",
  llm: "LLM judge",
  citation: "citation check",
  none: "no judge",
};

// The colour class of a claim: a citation problem outranks a supported status (the claim is true,
// but not where it says), never a contradiction.
export function claimTone(claim) {
  if (claim.citation_issue && claim.status !== "contradicted") return "citation";
  return claim.status in STATUS_WORDS ? claim.status : "not_checkable";
}

export function claimBadge(claim) {
  const words = [STATUS_WORDS[claim.status] || claim.status];
  if (claim.citation_issue) words.push(CITATION_ISSUE_WORDS[claim.citation_issue] || claim.citation_issue);
  return words.join(" · ");
}

export function percent(value) {
  return `${Math.round((Number(value) || 0) * 100)}%`;
}
