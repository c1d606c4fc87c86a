"""Pydantic models for the project resource as it crosses the API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AnyUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    UrlConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
TAG_PATTERN = r"^[a-z0-9][a-z0-9+#.-]*$"
MAX_TAGS = 20
MAX_URL_LENGTH = 2083
# Only http and https URLs, where JSON Schema's "format": "uri" takes any scheme.
URL_PATTERN = r"^[hH][tT][tT][pP][sS]?://"

_CONTROL_CHARACTERS = frozenset(chr(code) for code in range(32)) - {"\t", "\n", "\r"}
# The same rules as JSON Schema patterns (ECMA-262), so /api/openapi.json says what the
# server accepts: text without those control characters, and a title that keeps a
# character after str.strip() (whose whitespace is not quite the regex \s).
_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f"
_STRIPPED = r"\x00-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
PRINTABLE_PATTERN = f"^[^{_CONTROLS}]*$"
TITLE_PATTERN = f"^[^{_CONTROLS}]*[^{_STRIPPED}][^{_CONTROLS}]*$"


def _printable(text: object) -> object:
    # PostgreSQL refuses NUL in text and SQLite would store it: refuse control characters
    # for both, so the backends agree and nothing invisible gets stored. Checked before a
    # title is stripped, as its pattern says.
    if isinstance(text, str) and not _CONTROL_CHARACTERS.isdisjoint(text):
        raise ValueError("control characters (such as NUL) are not allowed")
    return text


Slug = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=SLUG_PATTERN)]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    BeforeValidator(_printable),
    Field(json_schema_extra={"pattern": TITLE_PATTERN}),
]
Summary = Annotated[
    str,
    StringConstraints(max_length=500),
    BeforeValidator(_printable),
    Field(json_schema_extra={"pattern": PRINTABLE_PATTERN}),
]
Body = Annotated[
    str,
    StringConstraints(max_length=200_000),
    BeforeValidator(_printable),
    Field(json_schema_extra={"pattern": PRINTABLE_PATTERN}),
]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=TAG_PATTERN)]
_URL_START = re.compile(URL_PATTERN)


def _as_documented(url: object) -> object:
    # Held to the schema as written: pydantic's own max_length on URLs counts UTF-8 bytes where
    # maxLength counts characters, and its parser would take " https://…" or "http:/x" too.
    if isinstance(url, str):
        if len(url) > MAX_URL_LENGTH:
            raise ValueError(f"a URL has at most {MAX_URL_LENGTH} characters")
        if not _URL_START.match(url) or url != url.strip():
            raise ValueError("a URL starts with http:// or https:// and has no surrounding spaces")
    return url


WebUrl = Annotated[
    AnyUrl,
    UrlConstraints(allowed_schemes=["http", "https"]),
    BeforeValidator(_as_documented),
    Field(json_schema_extra={"maxLength": MAX_URL_LENGTH, "pattern": URL_PATTERN}),
]


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_unique)]


class Links(BaseModel):
    """Where to see the project: its source repository and a live demo."""

    model_config = ConfigDict(extra="forbid")

    repository: WebUrl | None = None
    demo: WebUrl | None = None


class LinksOut(BaseModel):
    """The links as stored: URLs normalised on the way in, so longer than sent when escaped."""

    repository: Annotated[str, Field(json_schema_extra={"format": "uri"})] | None = None
    demo: Annotated[str, Field(json_schema_extra={"format": "uri"})] | None = None


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    title: Title
    summary: Summary = ""
    body: Body = Field(default="", description="Markdown")
    tags: Tags = []
    links: Links = Links()
    # Strict: the document says boolean, so 0, "yes" or "off" are refused rather than guessed.
    published: StrictBool = False


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _unset() -> Any:
    """A field left out means "unchanged": None in Python, absent (never null) in the schema."""
    return Field(default=None, json_schema_extra=_no_default)


class ProjectUpdate(BaseModel):
    """A partial update: only the fields sent are changed; none of them may be null."""

    model_config = ConfigDict(extra="forbid")

    slug: Slug | SkipJsonSchema[None] = _unset()
    title: Title | SkipJsonSchema[None] = _unset()
    summary: Summary | SkipJsonSchema[None] = _unset()
    body: Body | SkipJsonSchema[None] = _unset()
    tags: Tags | SkipJsonSchema[None] = _unset()
    links: Links | SkipJsonSchema[None] = _unset()
    published: StrictBool | SkipJsonSchema[None] = _unset()

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
    links: LinksOut
    published: bool
    created_at: datetime
    updated_at: datetime


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    total: int = Field(description="How many projects match, across all pages")
    limit: int
    offset: int
