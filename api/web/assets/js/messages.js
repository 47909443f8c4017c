// What a failed request means to the person using the page, from the API's error envelope.

import { ApiError } from "./api.js";

export function describeError(error, doing) {
  if (!(error instanceof ApiError)) return `${capitalise(doing)} failed: ${error.message || error}.`;
  const said = sentence(error.message);
  switch (error.status) {
    case 0:
      return `${capitalise(doing)} failed: the server cannot be reached. Is \`verirag serve\` still running?`;
    case 401:
      return `The server needs a valid API key (${doing}). ${said}`;
    case 403:
      return `This key may not do that (${doing}). ${said}`;
    case 429: {
      const wait = error.retryAfter !== null ? ` Try again in ${error.retryAfter} s.` : " Try again shortly.";
      return `Too many requests (${doing}). ${said}${wait}`;
    }
    default: {
      const id = error.status >= 500 && error.requestId ? ` (request ${error.requestId})` : "";
      return `${capitalise(doing)} failed (${error.status}): ${said}${id}`;
    }
  }
}

function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "";
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

function capitalise(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}
