"""Pydantic models for the project resource as it crosses the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    model_validator,
)

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
TAG_PATTERN = r"^[a-z0-9][a-z0-9+#.-]*$"
MAX_TAGS = 20

_CONTROL_CHARACTERS = frozenset(chr(code) for code in range(32)) - {"\t", "\n", "\r"}


def _printable(text: str) -> str:
    # PostgreSQL refuses NUL in text and SQLite would store it: refuse control characters
    # for both, so the backends agree and nothing invisible gets stored.
    if not _CONTROL_CHARACTERS.isdisjoint(text):
        raise ValueError("control characters (such as NUL) are not allowed")
    return text


Slug = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=SLUG_PATTERN)]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_printable),
]
Summary = Annotated[str, StringConstraints(max_length=500), AfterValidator(_printable)]
Body = Annotated[str, StringConstraints(max_length=200_000), AfterValidator(_printable)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=TAG_PATTERN)]


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_unique)]


class Links(BaseModel):
    """Where to see the project: its source repository and a live demo."""

    model_config = ConfigDict(extra="forbid")

    repository: HttpUrl | None = None
    demo: HttpUrl | None = None


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    title: Title
    summary: Summary = ""
    body: Body = Field(default="", description="Markdown")
    tags: Tags = []
    links: Links = Links()
    published: bool = False


class ProjectUpdate(BaseModel):
    """A partial update: only the fields sent are changed; none of them may be null."""

    model_config = ConfigDict(extra="forbid")

    slug: Slug | None = None
    title: Title | None = None
    summary: Summary | None = None
    body: Body | None = None
    tags: Tags | None = None
    links: Links | None = None
    published: bool | None = None

    @model_validator(mode="after")
    def _refuse_nulls(self) -> Self:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"these fields cannot be null: {', '.join(nulls)}")
        return self


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    title: str
    summary: str
    body: str
    tags: list[str]
    links: Links
    published: bool
    created_at: datetime
    updated_at: datetime


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    total: int = Field(description="How many projects match, across all pages")
    limit: int
    offset: int
