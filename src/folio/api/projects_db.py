"""Database functions for projects; they take a session and know nothing of HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from folio.api.models import Project, ProjectTag, utc_now
from folio.api.schemas import ProjectCreate


class DuplicateSlugError(Exception):
    """Another project already has this slug."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"a project with slug {slug!r} already exists")
        self.slug = slug


async def list_projects(
    session: AsyncSession,
    *,
    include_drafts: bool,
    tag: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Project], int]:
    """One page of projects, newest first, and how many match in all."""
    query = _visible(select(Project), include_drafts)
    if tag is not None:
        query = query.where(Project.tag_rows.any(ProjectTag.tag == tag))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    page = query.order_by(Project.created_at.desc(), Project.id.desc()).limit(limit).offset(offset)
    projects = (await session.scalars(page)).all()
    return projects, total or 0


async def count_by_state(session: AsyncSession) -> dict[str, int]:
    """How many projects are published and how many are drafts."""
    rows = await session.execute(
        select(Project.published, func.count()).group_by(Project.published)
    )
    return {("published" if published else "draft"): count for published, count in rows}


async def get_project(session: AsyncSession, slug: str, *, include_drafts: bool) -> Project | None:
    query = _visible(select(Project).where(Project.slug == slug), include_drafts)
    return await session.scalar(query)


async def create_project(session: AsyncSession, data: ProjectCreate) -> Project:
    project = Project(
        slug=data.slug,
        title=data.title,
        summary=data.summary,
        body=data.body,
        links=data.links.model_dump(mode="json", exclude_none=True),
        published=data.published,
    )
    project.tags = data.tags
    session.add(project)
    await _commit(session, data.slug)
    return project


async def update_project(
    session: AsyncSession, project: Project, changes: dict[str, Any]
) -> Project:
    """Apply ``changes`` (field name to new value, links already as a dict) in one commit."""
    for field, value in changes.items():
        setattr(project, field, value)
    project.updated_at = utc_now()
    await _commit(session, project.slug)
    return project


async def delete_project(session: AsyncSession, project: Project) -> None:
    await session.delete(project)
    await session.commit()


def _visible(query: Select[Project], include_drafts: bool) -> Select[Project]:
    return query if include_drafts else query.where(Project.published.is_(True))


async def _commit(session: AsyncSession, slug: str) -> None:
    # The unique index is the arbiter of duplicate slugs: checking first would race.
    try:
        await session.commit()
    except IntegrityError as error:
        await session.rollback()
        raise DuplicateSlugError(slug) from error
