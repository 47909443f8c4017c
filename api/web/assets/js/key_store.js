// The API key, kept in this tab's sessionStorage only: it is gone when the tab closes, and no other
// site or tab can read it. The page asks for one when the server answers 401.

const STORAGE_KEY = "verirag.apiKey";

export function currentKey() {
  try {
    return sessionStorage.getItem(STORAGE_KEY) || null;
  } catch {
    return null; // storage disabled: the page works in open mode only
  }
}

export function storeKey(key) {
  sessionStorage.setItem(STORAGE_KEY, key.trim());
}

export function forgetKey() {
  sessionStorage.removeItem(STORAGE_KEY);
}
