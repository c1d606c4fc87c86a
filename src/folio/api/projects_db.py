"""Database functions for projects; they take a session and know nothing of HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from folio.api.models import Project, ProjectTag, utc_now
from folio.api.schemas import ProjectCreate


class ProjectGoneError(Exception):
    """The project was deleted by another request while this one worked on it."""


class ConcurrentWriteError(Exception):
    """Another write to the same rows won a lock race; trying again may succeed."""


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
    await _lock(session, project)
    for field, value in changes.items():
        setattr(project, field, value)
    project.updated_at = utc_now()
    await _commit(session, project.slug)
    return project


async def delete_project(session: AsyncSession, project: Project) -> None:
    slug = project.slug
    await _lock(session, project)
    await session.delete(project)
    await _commit(session, slug)


async def _lock(session: AsyncSession, project: Project) -> None:
    # Every write locks the project row before its tag rows, so that a PATCH and a DELETE
    # of the same project take locks in one order and cannot deadlock.
    locked = await session.scalar(
        select(Project.id).where(Project.id == project.id).with_for_update()
    )
    if locked is None:
        raise ProjectGoneError(project.slug)


def _visible(query: Select[Project], include_drafts: bool) -> Select[Project]:
    return query if include_drafts else query.where(Project.published.is_(True))


async def _commit(session: AsyncSession, slug: str) -> None:
    # The unique index is the arbiter of duplicate slugs: checking first would race.
    try:
        await session.commit()
    except IntegrityError as error:
        await session.rollback()
        raise DuplicateSlugError(slug) from error
    except StaleDataError as error:
        await session.rollback()
        raise ProjectGoneError(slug) from error
    except DBAPIError as error:
        await session.rollback()
        if _is_write_conflict(error):
            raise ConcurrentWriteError(slug) from error
        raise


def _is_write_conflict(error: DBAPIError) -> bool:
    # PostgreSQL: serialization failure or deadlock; SQLite: the database stayed locked.
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return sqlstate in {"40001", "40P01"} or "database is locked" in str(error.orig)
