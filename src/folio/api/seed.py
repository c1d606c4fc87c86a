"""Demo projects, so that a fresh folio has something to show."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from folio.api import projects_db
from folio.api.models import Project
from folio.api.schemas import ProjectCreate

DEMO_PROJECTS = [
    ProjectCreate(
        slug="observability-stack",
        title="Observability stack on ECS",
        summary="Prometheus, Grafana and alerting for a two-service app on AWS ECS Fargate.",
        body=(
            "## What it does\n\nScrapes every service through service discovery, keeps 15 days "
            "of data and pages on SLO burn rate.\n\n## Stack\n\n- Prometheus\n- Grafana\n- "
            "Terraform"
        ),
        tags=["prometheus", "grafana", "terraform", "aws"],
        links={"repository": "https://github.com/example/observability-stack"},
        published=True,
    ),
    ProjectCreate(
        slug="portfolio-site",
        title="This portfolio",
        summary="A server-rendered portfolio over a JSON API, instrumented end to end.",
        body="Built with FastAPI and SQLAlchemy; every request is measured.",
        tags=["python", "fastapi", "observability"],
        links={
            "repository": "https://github.com/example/folio",
            "demo": "https://folio.example.com",
        },
        published=True,
    ),
    ProjectCreate(
        slug="event-pipeline",
        title="Event pipeline",
        summary="Exactly-once ingestion of clickstream events into PostgreSQL.",
        body="Consumes from Kafka, deduplicates by event id and writes in batches of 500.",
        tags=["python", "postgresql", "kafka"],
        links={"repository": "https://github.com/example/event-pipeline"},
        published=True,
    ),
    ProjectCreate(
        slug="cli-budget",
        title="Budget in the terminal",
        summary="A tiny command-line tool that categorises bank exports.",
        body="Reads CSV exports, learns categories from your corrections and prints a report.",
        tags=["python", "cli"],
        published=True,
    ),
    ProjectCreate(
        slug="rust-rewrite",
        title="Rewriting the parser in Rust",
        summary="A draft write-up of moving a hot parser to Rust with PyO3.",
        body="Work in progress.",
        tags=["rust", "python"],
        published=False,
    ),
]


async def seed(session: AsyncSession) -> list[str]:
    """Insert the demo projects that are missing; return the slugs added."""
    existing = set((await session.scalars(select(Project.slug))).all())
    added = []
    for demo in DEMO_PROJECTS:
        if demo.slug not in existing:
            await projects_db.create_project(session, demo)
            added.append(demo.slug)
    return added
