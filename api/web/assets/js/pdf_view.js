// A cited PDF page drawn by pdf.js (vendored, loaded only when a PDF source is opened), with the
// evidence highlighted on its text layer: the transparent text spans pdf.js lays over the canvas.

import { apiFetch, ApiError, documentPath } from "./api.js";
import { h, scrollWithin } from "./dom.js";

const PDFJS_FOLDER = "/assets/vendor/pdfjs-5.4.296";
const documents = new Map(); // "collection\u0000doc_id" → Promise of a PDF document, or of null
let library = null;

async function pdfjs() {
  if (!library) {
    library = import(`${PDFJS_FOLDER}/pdf.min.mjs`).then((module) => {
      module.GlobalWorkerOptions.workerSrc = `${PDFJS_FOLDER}/pdf.worker.min.mjs`;
      return module;
    });
  }
  return library;
}

// The uploaded PDF of a document, or null when the server holds none (a folder ingest, another format).
export function loadPdf(collection, docId) {
  const key = `${collection}\u0000${docId}`;
  if (!documents.has(key)) {
    const loading = (async () => {
      let response;
      try {
        response = await apiFetch(`${documentPath(collection, docId)}/pdf`);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) return null;
        throw error;
      }
      const data = new Uint8Array(await response.arrayBuffer());
      const library = await pdfjs();
      // No eval (the page's CSP forbids it), errors only in the console.
      return library.getDocument({ data, isEvalSupported: false, verbosity: 0 }).promise;
    })();
    documents.set(key, loading);
    loading.catch(() => documents.delete(key)); // a failure is retried next time, not remembered
  }
  return documents.get(key);
}

// Draws page `pageNumber` into `host`, as wide as the host, and marks the text spans holding each
// highlight's text. Returns how many highlights were found on the page.
export async function renderPdfPage(host, pdf, pageNumber, highlights) {
  const library = await pdfjs();
  const page = await pdf.getPage(Math.min(Math.max(1, pageNumber), pdf.numPages));
  const natural = page.getViewport({ scale: 1 });
  const scale = Math.max(0.5, (host.clientWidth || 600) / natural.width);
  const viewport = page.getViewport({ scale });
  const ratio = window.devicePixelRatio || 1;
  const canvas = h("canvas", { class: "pdf-canvas", "aria-hidden": "true" });
  canvas.width = Math.floor(viewport.width * ratio);
  canvas.height = Math.floor(viewport.height * ratio);
  const textLayer = h("div", { class: "textLayer" });
  const sheet = h("div", { class: "pdf-page", role: "group", "aria-label": `Page ${page.pageNumber} of the PDF` },
    canvas, textLayer);
  // pdf.js sizes the page and its text from these variables (set through the CSSOM: the CSP allows it).
  sheet.style.setProperty("--scale-factor", String(scale));
  sheet.style.setProperty("--total-scale-factor", String(scale));
  sheet.style.width = `${viewport.width}px`;
  sheet.style.height = `${viewport.height}px`;
  host.replaceChildren(sheet);
  await page.render({
    canvas, canvasContext: canvas.getContext("2d"), viewport,
    transform: ratio === 1 ? undefined : [ratio, 0, 0, ratio, 0, 0],
  }).promise;
  const layer = new library.TextLayer({ textContentSource: await page.getTextContent(), container: textLayer, viewport });
  await layer.render();
  let found = 0;
  for (const highlight of highlights) {
    const indexes = spansHolding(layer.textContentItemsStr, highlight.text);
    if (indexes.length) found += 1;
    for (const index of indexes) {
      const span = layer.textDivs[index];
      const claims = new Set([...(span.dataset.claims || "").split(" ").filter(Boolean), ...highlight.claims.map(String)]);
      span.dataset.claims = [...claims].join(" ");
      span.classList.add("evidence");
      if (!span.classList.contains("active")) {  // an active claim's colour wins over the others'
        for (const name of [...span.classList]) if (name.startsWith("tone-")) span.classList.remove(name);
        span.classList.add(`tone-${highlight.tone}`);
      }
      if (highlight.active) span.classList.add("active");
    }
  }
  scrollWithin(host, textLayer.querySelector(".evidence.active") || textLayer.querySelector(".evidence"));
  return { found, page: page.pageNumber, pages: pdf.numPages };
}

// The first of `candidates` (page numbers) whose text holds `wanted`: a passage may run over two pages,
// and the evidence sit on either. The first candidate when none does.
export async function pageHolding(pdf, candidates, wanted) {
  for (const number of candidates) {
    if (number < 1 || number > pdf.numPages) continue;
    const content = await (await pdf.getPage(number)).getTextContent();
    const items = content.items.filter((item) => item.str !== undefined).map((item) => item.str);
    if (wanted && spansHolding(items, wanted).length) return number;
  }
  return candidates[0] || 1;
}

// The text spans that hold `wanted`: both sides compared without white space and case (the
// document's parser and pdf.js break lines and words differently), mapped back to span indexes.
export function spansHolding(items, wanted) {
  const target = squash(wanted);
  if (target.length < 4) return [];
  let joined = "";
  const owner = [];
  items.forEach((item, index) => {
    const squashed = squash(item);
    joined += squashed;
    for (let i = 0; i < squashed.length; i += 1) owner.push(index);
  });
  let at = joined.indexOf(target);
  let length = target.length;
  if (at < 0) {
    // A span cut by a page break, or a ligature pdf.js spells differently: its first stretch will do.
    const head = target.slice(0, Math.max(12, Math.floor(target.length / 2)));
    at = joined.indexOf(head);
    length = head.length;
  }
  if (at < 0) return [];
  return [...new Set(owner.slice(at, at + length))];
}

function squash(text) {
  return String(text).normalize("NFKC").replace(/\s+/g, "").toLowerCase();
}
