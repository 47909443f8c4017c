// The page's entry point: wires the views together, switches between Ask and Collections, asks for
// an API key when the server wants one, and loads the collections and models to choose from.

import { AUTH_NEEDED, apiJson } from "./api.js";
import { Asker } from "./ask.js";
import { CollectionsView } from "./collections_view.js";
import { byId, h, replaceChildren } from "./dom.js";
import { History } from "./history.js";
import { currentKey, forgetKey, storeKey } from "./key_store.js";
import { showError } from "./notices.js";
import { SourcesView } from "./sources_view.js";
import { TurnView } from "./turn_view.js";

const sources = new SourcesView();
const turnView = new TurnView(sources);
let asker = null;
const history = new History({ onSelect: (turn) => { location.hash = "#ask"; asker.show(turn); } });
asker = new Asker({ turnView, sources, history });
const collections = new CollectionsView({ onChanged: (list) => asker.setCollections(list) });

function route() {
  const view = location.hash === "#collections" ? "collections" : "ask";
  for (const section of document.querySelectorAll("[data-view]")) section.hidden = section.dataset.view !== view;
  for (const link of document.querySelectorAll("nav.views a")) {
    if (link.getAttribute("href") === `#${view}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// --- the API key: asked for on a 401, kept in this tab's sessionStorage only

const keyDialog = byId("key-dialog");
let keysRequired = false; // the server has answered 401: it wants a key (an open server never does)

function askForKey(error) {
  keysRequired = true;
  const refused = currentKey() !== null;
  byId("key-reason").textContent = refused
    ? `The server refused the key this tab holds: ${error ? error.message : "unknown key"}. Enter another one.`
    : "This server requires an API key (created with `verirag keys create`). Enter one to continue.";
  if (!keyDialog.open) keyDialog.showModal();
  byId("key-input").focus();
}

function showKeyStatus() {
  const holder = byId("key-status");
  if (currentKey()) {
    replaceChildren(holder, "API key held by this tab ", h("button", {
      type: "button", class: "link-button", onclick: () => { forgetKey(); showKeyStatus(); boot(); },
    }, "Forget it"));
  } else if (keysRequired) {
    replaceChildren(holder, h("button", { type: "button", class: "link-button", onclick: () => askForKey(null) },
      "Enter an API key"));
  } else {
    replaceChildren(holder);
  }
}

byId("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = byId("key-input");
  if (!input.value.trim()) return;
  storeKey(input.value);
  input.value = "";
  keyDialog.close();
  showKeyStatus();
  boot();
});
byId("key-cancel").addEventListener("click", () => keyDialog.close());
window.addEventListener(AUTH_NEEDED, (event) => {
  askForKey(event.detail);
  showKeyStatus();
});

async function boot() {
  showKeyStatus();
  if (!(await collections.refresh())) return; // said by the collections view, or the key dialog is open
  try {
    const models = await apiJson("/v1/models");
    asker.setModels(models.data);
  } catch (error) {
    showError(error, "listing the models");
  }
}

window.addEventListener("hashchange", route);
sources.reset();
route();
boot();
