"""GET /v1/jobs/{job_id}: where an upload's ingest job stands, file by file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Authenticated, State
from api.errors import ApiError
from api.schemas.common import error_responses
from api.schemas.documents import JobModel

router = APIRouter(tags=["collections"])


@router.get(
    "/v1/jobs/{job_id}",
    name="get_job",
    response_model=JobModel,
    summary="An ingest job: state (queued, running, succeeded, failed), progress, per-file results",
    responses=error_responses(401, 404, 422, 429),
)
async def get_job(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], caller: Authenticated, state: State):
    job = state.jobs.get(job_id)
    # A job of a collection the key may not read is answered as a missing one: a 403 would name (and
    # confirm) a collection the caller was never given.
    if job is None or not caller.may(job.collection, "read"):
        raise ApiError(404, "job_not_found", f"no ingest job {job_id!r}", param="job_id")
    return job.to_dict()
