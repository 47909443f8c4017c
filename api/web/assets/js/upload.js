// Uploading documents into a collection (POST /v1/collections/{name}/documents) and following the
// ingest job it starts (GET /v1/jobs/{id}). XMLHttpRequest, not fetch: only it reports upload progress.

import { AUTH_NEEDED, ApiError, apiJson, authHeaders, collectionPath } from "./api.js";

const POLL_MS = 600;

// Resolves with the 202 body ({job_id, status_url, files, …}); onProgress gets each file's share sent.
export function uploadFiles(collection, files, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", `${collectionPath(collection)}/documents`);
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(perFile(files, event.loaded / event.total));
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        onProgress(files.map(() => 1));
        resolve(request.response);
        return;
      }
      const error = new ApiError(request.status, request.response, { get: (name) => request.getResponseHeader(name) });
      if (error.status === 401) window.dispatchEvent(new CustomEvent(AUTH_NEEDED, { detail: error }));
      reject(error);
    });
    request.addEventListener("error", () => reject(new ApiError(0, null, null)));
    request.send(form);
  });
}

// The multipart body holds the files in order, so the share of it sent says how far each file is.
function perFile(files, fraction) {
  const total = files.reduce((sum, file) => sum + file.size, 0) || 1;
  let sent = fraction * total;
  return files.map((file) => {
    const share = file.size ? Math.min(1, Math.max(0, sent / file.size)) : fraction >= 1 ? 1 : 0;
    sent -= file.size;
    return share;
  });
}

// Polls the job until it has finished (succeeded or failed), telling onUpdate each state seen.
export async function followJob(statusUrl, onUpdate) {
  for (;;) {
    const job = await apiJson(statusUrl);
    onUpdate(job);
    if (job.state === "succeeded" || job.state === "failed") return job;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
