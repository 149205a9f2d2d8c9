"""Which tables a service's Alembic revisions own, and which it makes itself.

A versioned read model (the dashboard's, `carepath.dashboard.versions`) makes the tables of its
versions beyond the first when it starts, and drops them when they are pruned: they are born
empty and never altered, so they have no revisions. Such a table says so in its `Table.info`
(`MANAGED_BY_INFO`), and names the read model it is a version of (`READ_MODEL_INFO`); the
comparison of the models with the revisions (`carepath-migrate --compare-models`, and a new
revision's autogenerate) leaves out those tables, and every table of the database that is a
version of such a read model (`<name>` or `<name>_v<N>`).
"""

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import MetaData

MANAGED_BY_INFO = "managed_by"
"""`Table.info` key: who makes the table when not the revisions (`"projection"`)."""
READ_MODEL_INFO = "read_model"
"""`Table.info` key: the read model (its name without a version) the table is a version of."""

IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]


def owned_by_revisions(metadata: MetaData) -> IncludeObject:
    """Alembic's `include_object` for `metadata`: False for a table the service makes itself,
    and for a table in the database that is a version of one of its versioned read models."""
    read_models = {
        table.info[READ_MODEL_INFO]
        for table in metadata.tables.values()
        if READ_MODEL_INFO in table.info
    }
    versions = re.compile(rf"(?:{'|'.join(map(re.escape, sorted(read_models)))})(?:_v\d+)?")

    def include(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        if kind != "table":
            return True  # an index or a column belongs to its table, compared or not
        if not reflected:
            return bool(obj.info.get(MANAGED_BY_INFO) is None)
        # Only in the database: another version's read-model table (version 1's included,
        # while a later version runs).
        return not (read_models and name is not None and versions.fullmatch(name))

    return include
