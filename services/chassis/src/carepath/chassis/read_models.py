"""Read models applied a batch at a time, set-based: the rows a batch of events touches are read
in one SELECT per table, changed in memory as plain dicts by the projection's handlers, and
written back in one statement per table (an upsert, executed for many rows), in the consumer's
inbox transaction. No ORM object per row, no query per event.
"""

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from pydantic_core import PydanticUndefined
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from carepath.chassis.database import upsert

Row = dict[str, Any]
Key = UUID | str
KEY_CHUNK = 500  # keys per SELECT ... IN (well under SQLite's limit on parameters)


def _table(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def _key_column(model: type[SQLModel]) -> str:
    [column] = _table(model).primary_key
    return column.name


def _defaults(model: type[SQLModel]) -> Row:
    return {
        name: (None if field.default is PydanticUndefined else field.default)
        for name, field in model.model_fields.items()
    }


class ReadModels:
    """The rows of some tables (each with a one-column primary key) that one batch touches.
    `load` reads those that exist, the handlers change them (`find`, `row`) or add rows to an
    append-only table (`append`), `write` puts every changed and added row back."""

    def __init__(
        self, models: Sequence[type[SQLModel]], *, append_only: Sequence[type[SQLModel]] = ()
    ) -> None:
        self._defaults = {model: _defaults(model) for model in models}
        self._rows: dict[type[SQLModel], dict[Key, Row]] = {m: {} for m in models}
        self._changed: dict[type[SQLModel], set[Key]] = {m: set() for m in models}
        self._new: dict[type[SQLModel], set[Key]] = {m: set() for m in models}
        self._appended: dict[type[SQLModel], list[Row]] = {m: [] for m in append_only}

    async def load(self, session: AsyncSession, model: type[SQLModel], keys: Iterable[Key]) -> None:
        """Read the existing rows of `model` with these keys (those not in memory yet), locked
        until the transaction ends (PostgreSQL: `FOR UPDATE`, in key order; SQLite has one
        writer), so that two replicas never write back rows the other changed meanwhile."""
        rows, column = self._rows[model], _table(model).c[_key_column(model)]
        wanted = sorted({key for key in keys if key not in rows}, key=str)
        for start in range(0, len(wanted), KEY_CHUNK):
            chunk = wanted[start : start + KEY_CHUNK]
            found = await session.execute(
                select(_table(model)).where(column.in_(chunk)).order_by(column).with_for_update()
            )
            for row in found.mappings():
                rows[row[column.name]] = dict(row)

    async def load_all(self, session: AsyncSession, model: type[SQLModel]) -> None:
        """Read every row of a small table, locked as `load` locks them."""
        key_column = _table(model).c[_key_column(model)]
        found = await session.execute(select(_table(model)).order_by(key_column).with_for_update())
        key = _key_column(model)
        self._rows[model].update({row[key]: dict(row) for row in found.mappings()})

    def find(self, model: type[SQLModel], key: Key) -> Row | None:
        """The row with this key, to change (it will be written back), or None."""
        row = self._rows[model].get(key)
        if row is not None:
            self._changed[model].add(key)
        return row

    def row(self, model: type[SQLModel], key: Key, **defaults: Any) -> Row:
        """The row with this key, made from the model's defaults when there is none."""
        row = self.find(model, key)
        if row is None:
            row = {**self._defaults[model], _key_column(model): key, **defaults}
            self._rows[model][key] = row
            self._new[model].add(key)
        return row

    def append(self, model: type[SQLModel], **values: Any) -> None:
        """A new row of an append-only table (one that exists already is left as it is)."""
        self._appended[model].append({**self._defaults[model], **values})

    async def write(self, session: AsyncSession) -> None:
        """Every changed, new and appended row, one statement per table and kind (rows in key
        order, so that concurrent writers lock them in the same order). A new row is a plain
        INSERT: when another replica made the same row meanwhile, the batch fails on its unique
        key and the consumer applies its records again, one by one, onto that row."""
        for model, keys in self._changed.items():
            rows, new = self._rows[model], self._new[model]
            await upsert(session, _table(model), [rows[k] for k in sorted(keys - new, key=str)])
            if new:
                await session.execute(
                    insert(_table(model)), [rows[key] for key in sorted(new, key=str)]
                )
            keys.clear()
            new.clear()
        for model, appended in self._appended.items():
            await upsert(session, _table(model), appended, update=False)
            appended.clear()
