"""The project resource: list, read, create, update, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from folio.api import projects_db
from folio.api.deps import (
    CanSeeDrafts,
    ObservabilityDep,
    SessionDep,
    require_json,
    require_writer,
)
from folio.api.errors import ApiError
from folio.api.models import Project
from folio.api.schemas import ProjectCreate, ProjectOut, ProjectPage, ProjectUpdate, Tag

router = APIRouter(prefix="/api/projects", tags=["projects"])

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong bearer token"},
    403: {"description": "Writes are disabled: no FOLIO_API_TOKEN is configured"},
}
WRITE = [Depends(require_writer)]
JSON_WRITE = [*WRITE, Depends(require_json)]


@router.get("")
async def list_projects(
    session: SessionDep,
    include_drafts: CanSeeDrafts,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    tag: Annotated[Tag | None, Query(description="Only projects with this tag")] = None,
) -> ProjectPage:
    """Published projects, newest first; drafts too for a caller with the token."""
    projects, total = await projects_db.list_projects(
        session, include_drafts=include_drafts, tag=tag, limit=limit, offset=offset
    )
    items = [ProjectOut.model_validate(project) for project in projects]
    return ProjectPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{slug}", responses={404: {"description": "No such project"}})
async def get_project(slug: str, session: SessionDep, include_drafts: CanSeeDrafts) -> ProjectOut:
    return ProjectOut.model_validate(await _find(session, slug, include_drafts))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=JSON_WRITE,
    responses={**ERROR_RESPONSES, 409: {"description": "The slug is taken"}},
)
async def create_project(
    data: ProjectCreate, session: SessionDep, response: Response, metrics: ObservabilityDep
) -> ProjectOut:
    try:
        project = await projects_db.create_project(session, data)
    except projects_db.DuplicateSlugError as error:
        raise ApiError(409, str(error), details={"slug": data.slug}) from None
    metrics.projects_created.inc()
    metrics.project_written()
    response.headers["Location"] = f"{router.prefix}/{project.slug}"
    return ProjectOut.model_validate(project)


@router.patch(
    "/{slug}",
    dependencies=JSON_WRITE,
    responses={**ERROR_RESPONSES, 404: {"description": "No such project"}, 409: {}},
)
async def update_project(
    slug: str, data: ProjectUpdate, session: SessionDep, metrics: ObservabilityDep
) -> ProjectOut:
    project = await _find(session, slug, include_drafts=True)
    changes = data.model_dump(mode="json", exclude_unset=True, exclude={"links"})
    if "links" in data.model_fields_set and data.links is not None:
        changes["links"] = data.links.model_dump(mode="json", exclude_none=True)
    try:
        project = await projects_db.update_project(session, project, changes)
    except projects_db.DuplicateSlugError as error:
        raise ApiError(409, str(error), details={"slug": error.slug}) from None
    metrics.project_written()
    return ProjectOut.model_validate(project)


@router.delete(
    "/{slug}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=WRITE,
    responses={**ERROR_RESPONSES, 404: {"description": "No such project"}},
)
async def delete_project(slug: str, session: SessionDep, metrics: ObservabilityDep) -> Response:
    project = await _find(session, slug, include_drafts=True)
    await projects_db.delete_project(session, project)
    metrics.project_written()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _find(session: SessionDep, slug: str, include_drafts: bool) -> Project:
    project = await projects_db.get_project(session, slug, include_drafts=include_drafts)
    if project is None:
        raise ApiError(404, f"no project with slug {slug!r}", details={"slug": slug})
    return project
