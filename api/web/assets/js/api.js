// The page's one way to the server: the public API (docs/api.md), with the key from key_store.js.
// Every failure becomes an ApiError carrying the server's error envelope, so views can say what went
// wrong; a 401 also tells the page to ask for a key.

import { currentKey } from "./key_store.js";

export const AUTH_NEEDED = "verirag:auth-needed";

export class ApiError extends Error {
  constructor(status, body, headers) {
    const error = (body && body.error) || {};
    super(error.message || (status ? `HTTP ${status}` : "the server cannot be reached"));
    this.name = "ApiError";
    this.status = status;
    this.type = error.type || null;
    this.param = error.param || null;
    this.requestId = error.request_id || (headers && headers.get("x-request-id")) || null;
    const retryAfter = headers && headers.get("retry-after");
    this.retryAfter = retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null;
  }
}

export function authHeaders() {
  const key = currentKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null; // a proxy's HTML page, an empty body: the status still says enough
  }
  const error = new ApiError(response.status, body, response.headers);
  if (error.status === 401) window.dispatchEvent(new CustomEvent(AUTH_NEEDED, { detail: error }));
  return error;
}

export async function apiFetch(path, { method = "GET", json, body, signal, headers = {} } = {}) {
  const sent = { ...authHeaders(), ...headers };
  if (json !== undefined) {
    sent["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers: sent, body, signal, cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { error: { type: "network", message: "the server cannot be reached" } }, null);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export async function apiJson(path, options) {
  const response = await apiFetch(path, options);
  return response.json();
}

export function collectionPath(name) {
  return `/v1/collections/${encodeURIComponent(name)}`;
}

export function documentPath(collection, docId) {
  // doc_ids of folder ingests hold '/': each part is encoded, the slashes stay (the route takes a path).
  return `${collectionPath(collection)}/documents/${docId.split("/").map(encodeURIComponent).join("/")}`;
}
