"""The project resource: list, read, create, update, delete."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from folio.api import projects_db
from folio.api.deps import (
    IfNoneMatch,
    ObservabilityDep,
    ReaderDep,
    SessionDep,
    require_json,
    require_writer,
)
from folio.api.errors import ApiError, ErrorResponse
from folio.api.project_reads import find
from folio.api.read_cache import cached_read_responses
from folio.api.schemas import (
    ProjectCreate,
    ProjectOut,
    ProjectPage,
    ProjectUpdate,
    Tag,
)

router = APIRouter(prefix="/api/projects", tags=["projects"])
ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_OFFSET = 1_000_000_000


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route that reads or writes the database (so 503 too)."""
    descriptions = {
        400: "The body is not valid JSON",
        401: "Missing or wrong bearer token",
        403: "Writes are disabled: no FOLIO_API_TOKEN is configured",
        404: "No such project",
        409: "The slug is taken, or a concurrent write won",
        413: "The body is over FOLIO_MAX_BODY_BYTES, which no valid body is",
        415: "The body is not declared as JSON",
        422: "A field is missing, malformed or unknown",
        503: "The database is unavailable; try again after Retry-After seconds",
    }
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse, "description": descriptions[code]}
        for code in (*statuses, 503)
    }
    responses[503]["headers"] = {
        "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
    }
    return responses


def _leading_to_project(status_code: int, description: str) -> dict[int | str, dict[str, Any]]:
    """A success response whose body is a project, with OpenAPI links to the calls on it.

    The links say how a client (or schemathesis's stateful phase) goes from a created or
    updated project to reading, changing and deleting it: by the slug in the body.
    """
    slug = {"slug": "$response.body#/slug"}
    links = {
        f"{verb}Project": {"operationId": operation, "parameters": slug}
        for verb, operation in (
            ("Get", "get_project"),
            ("Update", "update_project"),
            ("Delete", "delete_project"),
        )
    }
    return {status_code: {"description": description, "links": links}}


def _json_body(model: type[ModelT]) -> Any:
    """A dependency that parses the body only after the token and media type passed."""

    async def parse(request: Request) -> ModelT:
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as error:
            raise RequestValidationError(
                [{**problem, "loc": ("body", *problem["loc"])} for problem in error.errors()]
            ) from None

    return Depends(parse)


def _request_body(model: type[BaseModel]) -> dict[str, Any]:
    # The body is parsed by a dependency, so FastAPI never adds the model to the document's
    # components: a $ref to it would dangle. Inline its JSON schema, nested models included.
    schema = _inline(model.model_json_schema())
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _inline(schema: Any, definitions: dict[str, Any] | None = None) -> Any:
    """``schema`` with every local ``$ref`` replaced by its definition, and no ``$defs``."""
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if definitions is None:
        definitions = schema.get("$defs", {})
    if "$ref" in schema:
        return _inline(definitions[schema["$ref"].removeprefix("#/$defs/")], definitions)
    return {key: _inline(value, definitions) for key, value in schema.items() if key != "$defs"}


# Reads are public; the token only adds drafts. `{}` makes the bearer scheme optional.
PUBLIC_READ: dict[str, Any] = {"security": [{}]}


WRITE = [Depends(require_writer)]
JSON_WRITE = [*WRITE, Depends(require_json)]
CreateBody = Annotated[ProjectCreate, _json_body(ProjectCreate)]
UpdateBody = Annotated[ProjectUpdate, _json_body(ProjectUpdate)]


@router.get(
    "",
    operation_id="list_projects",
    response_model=ProjectPage,
    responses={**cached_read_responses(), **_documented(401, 422)},
    openapi_extra=PUBLIC_READ,
)
async def list_projects(
    reader: ReaderDep,
    if_none_match: IfNoneMatch = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    tag: Annotated[Tag | None, Query(description="Only projects with this tag")] = None,
) -> Response:
    """Published projects, newest first; drafts too for a caller with the token."""
    return await reader.reads.page(
        if_none_match, include_drafts=reader.include_drafts, limit=limit, offset=offset, tag=tag
    )


@router.get(
    "/{slug}",
    operation_id="get_project",
    response_model=ProjectOut,
    responses={**cached_read_responses(), **_documented(401, 404)},
    openapi_extra=PUBLIC_READ,
)
async def get_project(slug: str, reader: ReaderDep, if_none_match: IfNoneMatch = None) -> Response:
    return await reader.reads.project(if_none_match, slug, include_drafts=reader.include_drafts)


@router.post(
    "",
    operation_id="create_project",
    status_code=status.HTTP_201_CREATED,
    dependencies=JSON_WRITE,
    responses={
        **_leading_to_project(201, "The project, created"),
        **_documented(400, 401, 403, 409, 413, 415, 422),
    },
    openapi_extra=_request_body(ProjectCreate),
)
async def create_project(
    data: CreateBody, session: SessionDep, response: Response, metrics: ObservabilityDep
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
    operation_id="update_project",
    dependencies=JSON_WRITE,
    responses={
        **_leading_to_project(200, "The project, updated"),
        **_documented(400, 401, 403, 404, 409, 413, 415, 422),
    },
    openapi_extra=_request_body(ProjectUpdate),
)
async def update_project(
    slug: str, data: UpdateBody, session: SessionDep, metrics: ObservabilityDep
) -> ProjectOut:
    project = await find(session, slug, include_drafts=True)
    changes = data.model_dump(mode="json", exclude_unset=True, exclude={"links"})
    if "links" in data.model_fields_set and data.links is not None:
        changes["links"] = data.links.model_dump(mode="json", exclude_none=True)
    try:
        project = await projects_db.update_project(session, project, changes)
    except projects_db.DuplicateSlugError as error:
        raise ApiError(409, str(error), details={"slug": error.slug}) from None
    except (projects_db.ProjectGoneError, projects_db.ConcurrentWriteError) as error:
        raise _write_lost(slug, error) from None
    metrics.project_written()
    return ProjectOut.model_validate(project)


@router.delete(
    "/{slug}",
    operation_id="delete_project",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=WRITE,
    responses=_documented(401, 403, 404, 409),
)
async def delete_project(slug: str, session: SessionDep, metrics: ObservabilityDep) -> Response:
    project = await find(session, slug, include_drafts=True)
    try:
        await projects_db.delete_project(session, project)
    except (projects_db.ProjectGoneError, projects_db.ConcurrentWriteError) as error:
        raise _write_lost(slug, error) from None
    metrics.project_written()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _write_lost(slug: str, error: Exception) -> ApiError:
    if isinstance(error, projects_db.ProjectGoneError):
        return ApiError(404, f"project {slug!r} was deleted meanwhile", details={"slug": slug})
    return ApiError(
        409, "a concurrent write to this project won; try again", details={"slug": slug}
    )
