"""The public reads of projects, served from rendered bodies while the content is unchanged.

Every read first reads the content version (see content_version), then serves the body
cached at that version, or builds it from the database and caches it. The version is read
before the body is built, so a body is never tagged older than the data it shows: a write
committed before a read began is in that read's answer, on any worker or instance.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Hashable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response

from folio.api import projects_db
from folio.api.content_version import VersionProbe
from folio.api.errors import ApiError
from folio.api.models import Project
from folio.api.read_cache import Rendered, RenderedCache, respond
from folio.api.schemas import SLUG_PATTERN, ProjectOut, ProjectPage

Build = Callable[[AsyncSession], Awaitable[bytes]]
_SLUG = re.compile(SLUG_PATTERN)


class ProjectReads:
    """List pages and single projects, as responses with ETags, from a per-worker cache."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        probe: VersionProbe,
        cache: RenderedCache | None = None,
    ) -> None:
        self.sessions = sessions
        self.probe = probe
        self.cache = cache or RenderedCache()

    async def page(
        self,
        if_none_match: str | None,
        *,
        include_drafts: bool,
        limit: int,
        offset: int,
        tag: str | None,
    ) -> Response:
        """One page of the list, newest first."""

        async def build(session: AsyncSession) -> bytes:
            projects, total = await projects_db.list_projects(
                session, include_drafts=include_drafts, tag=tag, limit=limit, offset=offset
            )
            items = [ProjectOut.model_validate(project) for project in projects]
            page = ProjectPage(items=items, total=total, limit=limit, offset=offset)
            return page.model_dump_json().encode()

        key = ("page", include_drafts, limit, offset, tag)
        return await self._serve(if_none_match, key, include_drafts, build)

    async def project(
        self, if_none_match: str | None, slug: str, *, include_drafts: bool
    ) -> Response:
        """One project by slug; 404 (never cached) if it is absent or hidden from the caller."""
        check_slug(slug)

        async def build(session: AsyncSession) -> bytes:
            project = await find(session, slug, include_drafts)
            return ProjectOut.model_validate(project).model_dump_json().encode()

        key = ("project", include_drafts, slug)
        return await self._serve(if_none_match, key, include_drafts, build)

    async def _serve(
        self, if_none_match: str | None, key: Hashable, include_drafts: bool, build: Build
    ) -> Response:
        try:
            version: Hashable | None = await self.probe.stamp()
        except Exception:
            # Unreadable version (database down, or not migrated): build uncached, so the
            # read succeeds or fails exactly as it would without a cache.
            version = None
        rendered = self.cache.get(key, version) if version is not None else None
        if rendered is None:
            async with self.sessions() as session:
                rendered = Rendered.of(await build(session), version)
            self.cache.put(key, rendered)
        return respond(if_none_match, rendered, private=include_drafts)


def check_slug(slug: str) -> None:
    """404 for a slug that cannot exist, without a lookup (nor echoing it at any length)."""
    if len(slug) > 100 or not _SLUG.match(slug):
        raise ApiError(404, "no project has that slug; slugs are lowercase words and hyphens")


async def find(session: AsyncSession, slug: str, include_drafts: bool) -> Project:
    """The project with ``slug`` that the caller may see, or a 404."""
    check_slug(slug)
    project = await projects_db.get_project(session, slug, include_drafts=include_drafts)
    if project is None:
        raise ApiError(404, f"no project with slug {slug!r}", details={"slug": slug})
    return project
