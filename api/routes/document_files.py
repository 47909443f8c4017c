"""GET /v1/collections/{name}/documents/{doc_id}/pdf: the uploaded PDF a document was ingested from.

A client that shows a cited passage on its page (the web page does, with pdf.js) needs the file
itself. Only what the server still holds is served: a document uploaded through the API whose upload
was not deleted, and only when its bytes are a PDF. Documents ingested from a folder with ``verirag
ingest`` were never copied into the server, so they have no file here (404), and nor does any other
format: serving an uploaded HTML or SVG file back from the API's origin would let a document run
script there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import AfterValidator

from api.deps import Authenticated, State
from api.errors import ApiError
from api.jobs.uploads import UnsafeName, inside
from api.schemas.common import error_responses
from api.schemas.query import COLLECTION_PATTERN, no_double_dot
from api.state import AppState

router = APIRouter(tags=["collections"])
PDF_MAGIC = b"%PDF-"
CollectionName = Annotated[
    str, PathParam(pattern=COLLECTION_PATTERN, description="Collection name ('..' is refused)."),
    AfterValidator(no_double_dot),
]
# The file is data for the client to render, never a page of this origin.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-cache",
}


def held_pdf(state: AppState, collection: str, doc_id: str) -> Path | None:
    """The newest stored upload of this document, when it is a PDF; None when none is held."""
    candidates = []
    for job_id, stored_name in state.jobs.stored_uploads(collection, doc_id):
        try:
            path = inside(state.uploads_dir / job_id, stored_name)  # never a path out of the upload's folder
            candidates.append((path.stat().st_mtime, path))
        except (OSError, UnsafeName):  # deleted with its document, or a name the table should never hold
            continue
    for _, path in sorted(candidates, reverse=True):
        with path.open("rb") as handle:
            return path if handle.read(len(PDF_MAGIC)) == PDF_MAGIC else None
    return None


@router.get(
    "/v1/collections/{name}/documents/{doc_id:path}/pdf",
    response_class=FileResponse,
    summary="The uploaded PDF a document was ingested from",
    description=(
        "The newest upload of this document, when the server still holds it and its bytes are a PDF "
        "(application/pdf, sent as an attachment). 404 `document_file_not_found` otherwise: documents "
        "ingested with `verirag ingest`, and uploads of other formats, are not served."
    ),
    responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                     "description": "The PDF."},
               **error_responses(401, 403, 404, 422, 429)},
)
async def document_pdf(name: CollectionName, doc_id: str, caller: Authenticated, state: State):
    caller.require(name, "read")
    path = await asyncio.get_running_loop().run_in_executor(state.executor, held_pdf, state, name, doc_id)
    if path is None:
        raise ApiError(404, "document_file_not_found",
                       f"collection {name!r} holds no uploaded PDF for document {doc_id!r} (only PDFs uploaded "
                       "through the API are kept)", param="doc_id")
    state.audit.record("document_file", caller.id, name, doc_id=doc_id)
    return FileResponse(path, media_type="application/pdf", filename=Path(doc_id).name,
                        content_disposition_type="attachment", headers=FILE_HEADERS)
