// The page-wide message line (role="alert"): errors that belong to no single view, and the ones a
// person must see wherever they are (a refused key, a rate limit).

import { byId, h, replaceChildren } from "./dom.js";
import { describeError } from "./messages.js";

export function showNotice(text, kind = "error") {
  const area = byId("notice");
  replaceChildren(area, h("p", { class: `notice notice-${kind}` }, text,
    h("button", { type: "button", class: "link-button", onclick: clearNotice }, "Dismiss")));
}

export function showError(error, doing) {
  showNotice(describeError(error, doing));
}

export function clearNotice() {
  byId("notice").replaceChildren();
}
