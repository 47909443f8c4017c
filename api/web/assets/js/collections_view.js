// Collections: the list with document and chunk counts, a new collection (created on the server by
// its first upload), uploads by drag-and-drop or the file picker with each file's progress and the
// ingest job's state, and the documents of one collection, each deletable.

import { ApiError, apiFetch, apiJson, collectionPath, documentPath } from "./api.js";
import { byId, h, replaceChildren } from "./dom.js";
import { describeError } from "./messages.js";
import { showError } from "./notices.js";
import { followJob, uploadFiles } from "./upload.js";

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const FILE_STATUS_WORDS = {
  pending: "waiting", ingested: "ingested", unchanged: "unchanged (already stored)", failed: "failed",
  rejected: "rejected",
};

export class CollectionsView {
  constructor({ onChanged }) {
    this.onChanged = onChanged;
    this.rows = byId("collection-rows");
    this.detail = byId("collection-detail");
    this.message = byId("collections-message");
    this.collections = [];
    this.pending = new Set(); // named here, not yet created by an upload
    this.selected = null;
    byId("collections-refresh").addEventListener("click", () => this.refresh());
    byId("new-collection-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.create(byId("new-collection-name"));
    });
  }

  // The collections, or null when they could not be listed (and the page says why).
  async refresh() {
    try {
      const body = await apiJson("/v1/collections");
      this.collections = body.collections;
      for (const c of this.collections) this.pending.delete(c.name);
      this.message.textContent = "";
    } catch (error) {
      this.message.textContent = describeError(error, "listing the collections");
      if (!(error instanceof ApiError) || error.status !== 401) showError(error, "listing the collections");
      return null;
    } finally {
      this.renderList();
    }
    this.onChanged(this.collections);
    return this.collections;
  }

  renderList() {
    const rows = this.collections.map((c) => this.row(c.name, count(c.documents), count(c.points)));
    for (const name of this.pending) rows.push(this.row(name, "new: created by its first upload", "—"));
    replaceChildren(this.rows, rows.length ? rows
      : h("tr", {}, h("td", { colspan: "3", class: "muted" }, "No collection yet: name one below and add files.")));
  }

  row(name, documents, chunks) {
    return h("tr", { "aria-current": name === this.selected ? "true" : null, dataset: { collection: name } },
      h("th", { scope: "row" }, h("button", { type: "button", class: "link-button", onclick: () => this.select(name) },
        name)),
      h("td", { class: "documents" }, documents),
      h("td", { class: "chunks" }, chunks));
  }

  create(input) {
    const name = input.value.trim();
    if (!NAME_PATTERN.test(name) || name.includes("..")) {
      this.message.textContent = "A collection name is 1 to 128 letters, digits, '_', '.' or '-', starting with a "
        + "letter or digit.";
      input.focus();
      return;
    }
    input.value = "";
    if (!this.collections.some((c) => c.name === name)) this.pending.add(name);
    this.renderList();
    this.select(name);
    this.message.textContent = `Collection ${name}: add files to create it.`;
  }

  async select(name) {
    this.selected = name;
    this.renderList();
    const heading = h("h3", { tabindex: "-1" }, `Collection ${name}`);
    this.documents = h("div", { class: "documents-host" }, h("p", { class: "muted" }, "Loading the documents…"));
    this.uploads = h("ol", { class: "upload-list", "aria-label": "Uploads" });
    replaceChildren(this.detail, heading, this.dropzone(name), this.uploads, h("h4", {}, "Documents"), this.documents);
    heading.focus();
    await this.loadDocuments(name);
  }

  dropzone(name) {
    const input = h("input", { type: "file", id: "file-input", multiple: true, class: "visually-hidden" });
    input.addEventListener("change", () => {
      if (input.files.length) this.upload(name, [...input.files]);
      input.value = "";
    });
    const zone = h("div", { class: "dropzone", id: "dropzone" },
      h("p", {}, "Drop files here, or ", input, h("label", { for: "file-input", class: "button" }, "choose files"),
        ". PDF, Word, PowerPoint, Excel, HTML, Markdown, text, CSV, EPUB, RTF, ODT…"));
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const files = [...(event.dataTransfer ? event.dataTransfer.files : [])];
      if (files.length) this.upload(name, files);
    });
    return zone;
  }

  async loadDocuments(name) {
    if (this.pending.has(name)) {
      replaceChildren(this.documents, h("p", { class: "muted" }, "None yet."));
      return;
    }
    try {
      const body = await apiJson(`${collectionPath(name)}?limit=1000`);
      if (this.selected !== name) return;
      const rows = body.document_list.map((d) => h("tr", { dataset: { docId: d.doc_id } },
        h("th", { scope: "row" }, d.doc_id),
        h("td", {}, d.source !== d.doc_id ? d.source : ""),
        h("td", { class: "chunks" }, String(d.chunks)),
        h("td", {}, this.deleteButton(name, d.doc_id))));
      replaceChildren(this.documents, rows.length ? h("table", { class: "documents-table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Document"), h("th", { scope: "col" }, "Source"),
          h("th", { scope: "col" }, "Chunks"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" },
            "Actions")))),
        h("tbody", {}, rows)) : h("p", { class: "muted" }, "No documents."),
      body.documents > body.document_list.length ? h("p", { class: "muted" },
        `The first ${body.document_list.length} of ${body.documents} documents.`) : null);
    } catch (error) {
      replaceChildren(this.documents, h("p", { class: "error-text", role: "alert" },
        describeError(error, `reading collection ${name}`)));
    }
  }

  // Two steps, so a stray click or keypress never deletes a document.
  deleteButton(collection, docId) {
    const cell = h("span", { class: "delete-cell" });
    const ask = h("button", { type: "button", class: "danger", "aria-label": `Delete ${docId}` }, "Delete");
    ask.addEventListener("click", () => {
      const confirm = h("button", { type: "button", class: "danger", "aria-label": `Confirm: delete ${docId}` },
        "Confirm delete");
      const cancel = h("button", { type: "button", "aria-label": `Keep ${docId}` }, "Keep");
      confirm.addEventListener("click", () => this.deleteDocument(collection, docId, cell));
      cancel.addEventListener("click", () => {
        replaceChildren(cell, ask);
        ask.focus();
      });
      replaceChildren(cell, confirm, " ", cancel);
      confirm.focus();
    });
    return replaceChildren(cell, ask);
  }

  async deleteDocument(collection, docId, cell) {
    replaceChildren(cell, h("span", { role: "status" }, "Deleting…"));
    try {
      await apiFetch(documentPath(collection, docId), { method: "DELETE" });
      await this.refresh();
      await this.loadDocuments(collection);
      this.message.textContent = `Deleted ${docId} from ${collection}.`;
    } catch (error) {
      replaceChildren(cell, h("span", { class: "error-text", role: "alert" }, describeError(error, `deleting ${docId}`)));
    }
  }

  async upload(collection, files) {
    const rows = files.map((file) => {
      const bar = h("progress", { max: "1", value: "0", "aria-label": `Upload of ${file.name}` });
      const state = h("span", { class: "file-state" }, "uploading");
      const reason = h("span", { class: "file-reason" });
      return { file, bar, state, reason, element: h("li", { class: "upload-file" },
        h("span", { class: "file-name" }, file.name), bar, state, reason) };
    });
    const jobLine = h("p", { class: "job-state", role: "status" }, `Uploading ${files.length} file(s)…`);
    this.uploads.prepend(h("li", { class: "upload-batch" }, jobLine, h("ul", {}, rows.map((r) => r.element))));
    let accepted;
    try {
      accepted = await uploadFiles(collection, files, (shares) => {
        shares.forEach((share, i) => { rows[i].bar.value = share; });
      });
    } catch (error) {
      jobLine.textContent = describeError(error, `uploading into ${collection}`);
      jobLine.classList.add("error-text");
      for (const row of rows) row.state.textContent = "not sent";
      return null;
    }
    this.pending.delete(collection);
    const show = (job) => {
      jobLine.textContent = `Job ${job.job_id || job.id}: ${job.state}`
        + (job.progress ? ` (${job.progress.files_done} of ${job.progress.files_total} files done)` : "")
        + (job.error ? ` — ${job.error}` : "");
      job.files.forEach((file, i) => {
        const row = rows[i];
        if (!row) return;
        row.state.textContent = FILE_STATUS_WORDS[file.status] || file.status;
        row.element.dataset.status = file.status;
        row.reason.textContent = file.error ? file.error : "";
      });
    };
    show(accepted);
    let job;
    try {
      job = await followJob(accepted.status_url, show);
    } catch (error) {
      jobLine.textContent = describeError(error, "following the ingest job");
      return null;
    }
    await this.refresh();
    if (this.selected === collection) await this.loadDocuments(collection);
    return job;
  }
}

function count(value) {
  return value === null || value === undefined ? "—" : String(value);
}
