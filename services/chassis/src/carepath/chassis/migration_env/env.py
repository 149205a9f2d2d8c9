"""Alembic's environment for every CarePath service: the connection (and, when writing a new
revision, the service's models) come from `carepath.chassis.schema`; each service keeps its own
revision history (`carepath/<service>/migrations/`)."""

from typing import Any, Literal

from alembic import context
from sqlalchemy.types import TypeDecorator


def render_item(kind: str, item: Any, _context: Any) -> str | Literal[False]:
    """A column of one of our own types (a TypeDecorator) is written as the type it stores, so
    that a revision never depends on code that may change after it."""
    if kind == "type" and isinstance(item, TypeDecorator):
        return f"sa.{item.impl!r}"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("target_metadata"),
    # SQLite cannot alter a table in place: Alembic copies it ("batch" mode).
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
    # Tables the service makes itself (a versioned read model's) are no business of a revision.
    include_object=context.config.attributes.get("include_object"),
)
with context.begin_transaction():
    context.run_migrations()
