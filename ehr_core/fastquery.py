"""Hot read statements: compiled once, run straight on the database driver.

Measured on the practice-day mix (``python -m bench ehr``): ``Session.execute`` of a Core
``select`` costs about 0.2 ms of Python per statement (cache key, execution context,
result processing), psycopg running the same SQL about 0.1 ms. The chart, the schedule and
the lists run several statements per request, so this is most of what a read costs.

:class:`FastQuery` wraps a Core ``select`` of plain columns. On PostgreSQL it compiles the
statement once, runs it on the session's own psycopg connection (so it joins the request's
transaction, or its autocommit, like any other statement) and returns plain dicts keyed by
the column names, with :class:`~ehr_core.models.UTCDateTime` columns made aware exactly as
the ORM would. Driver errors are wrapped in SQLAlchemy's :class:`~sqlalchemy.exc.DBAPIError`
(and a lost connection is invalidated), so the error handlers answer as for any statement.
On other dialects (SQLite, the embedded mode) it simply runs through SQLAlchemy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Connection, Select, bindparam, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ehr_core.models import UTCDateTime

Row = dict[str, Any]
#: What a hot read runs on: a request's session, or a read connection
#: (:meth:`ehr_core.db.Database.read_connection`).
Queryable: TypeAlias = Session | Connection
#: A ``select`` of any columns (SQLAlchemy 2.1 types a Select by its column types).
AnySelect: TypeAlias = Select[*tuple[Any, ...]]


class FastQuery:
    """A ``select`` of columns run on the driver; rows are dicts in column order.

    Bind parameters are named (``bindparam("p_id")``); values given at construction
    (literals in the statement) are filled in. Statements using expanding ``IN`` lists
    are not supported: keep those on SQLAlchemy.
    """

    __slots__ = ("_aware", "_compiled", "_lock", "names", "statement")

    def __init__(self, statement: AnySelect) -> None:
        self.statement = statement
        columns = list(statement.selected_columns)
        self.names: tuple[str, ...] = tuple(str(c.key) for c in columns)
        self._aware: tuple[int, ...] = tuple(
            i for i, c in enumerate(columns) if isinstance(c.type, UTCDateTime)
        )
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _sql(self, conn: Connection) -> _Compiled:
        """The statement compiled for this connection's dialect."""
        name = conn.dialect.name
        found = self._compiled.get(name)
        if found is None:
            compiled = self.statement.compile(dialect=conn.dialect)
            found = _Compiled(
                sql=str(compiled),
                defaults={k: v for k, v in compiled.params.items() if v is not None},
                utc_binds=tuple(
                    key
                    for key, bind in compiled.binds.items()
                    if isinstance(bind.type, UTCDateTime)
                ),
            )
            with self._lock:
                self._compiled[name] = found
        return found

    def all(self, db: Queryable, params: Mapping[str, Any]) -> list[Row]:
        """Every row, as dicts."""
        conn = connection_of(db)
        if conn.dialect.name != "postgresql":
            result = conn.execute(self.statement, dict(params))
            return [dict(zip(self.names, row, strict=True)) for row in result]
        return [self._row(r) for r in self._run(conn, params)]

    def first(self, db: Queryable, params: Mapping[str, Any]) -> Row | None:
        """The first row, or None."""
        rows = self.all(db, params)
        return rows[0] if rows else None

    def _row(self, values: Sequence[Any]) -> Row:
        row = dict(zip(self.names, values, strict=True))
        for i in self._aware:
            value = values[i]
            if value is not None:
                row[self.names[i]] = value.replace(tzinfo=dt.UTC)
        return row

    def _bound(self, conn: Connection, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The SQL and its parameters, as the driver takes them."""
        compiled = self._sql(conn)
        bound = {**compiled.defaults, **params}
        for key in compiled.utc_binds:  # as UTCDateTime.process_bind_param stores them
            value = bound.get(key)
            if value is not None:
                bound[key] = _naive_utc(value)
        return compiled.sql, bound

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return run_on_driver(conn, *self._bound(conn, params))


def all_of(db: Queryable, batch: Sequence[tuple[FastQuery, Mapping[str, Any]]]) -> list[list[Row]]:
    """The rows of several queries. On PostgreSQL they go out together in one round trip
    (psycopg's pipeline mode; measured for the chart's five: 0.47 ms of CPU against 0.66
    one by one); elsewhere one after the other."""
    conn = connection_of(db)
    if conn.dialect.name != "postgresql":
        return [query.all(conn, params) for query, params in batch]
    statements = [query._bound(conn, params) for query, params in batch]
    results = run_pipelined(conn, statements)
    return [
        [query._row(values) for values in rows]
        for (query, _), rows in zip(batch, results, strict=True)
    ]


def connection_of(db: Queryable) -> Connection:
    """The connection a session or connection runs its statements on."""
    return db.connection() if isinstance(db, Session) else db


def columns_of(entity: type[Any], model: type[BaseModel]) -> list[ColumnElement[Any]]:
    """``entity``'s columns named by ``model``'s fields, in the model's order: rows of
    them serialize exactly as the model would (same keys, same order)."""
    return [getattr(entity, name) for name in model.model_fields]


_TOTAL = "chartguard_total"


class PageQuery:
    """One page of a ``select`` and the total it pages through, in one statement
    (``count(*) OVER ()`` counts before ``LIMIT``/``OFFSET``). Only an empty page, whose
    rows carry no total, counts again with ``count``."""

    __slots__ = ("_count", "_rows")

    def __init__(self, rows: AnySelect, count: AnySelect) -> None:
        self._rows = FastQuery(
            rows.add_columns(func.count().over().label(_TOTAL))
            .limit(bindparam("p_page_limit"))
            .offset(bindparam("p_page_offset"))
        )
        self._count = FastQuery(count)

    def fetch(
        self, db: Queryable, params: Mapping[str, Any], *, page: int, page_size: int
    ) -> tuple[list[Row], int]:
        """The page's rows (without the total) and the total."""
        rows = self._rows.all(
            db, {**params, "p_page_limit": page_size, "p_page_offset": (page - 1) * page_size}
        )
        if not rows:
            found = self._count.first(db, params)
            return [], int(next(iter(found.values()))) if found else 0
        total = int(rows[0][_TOTAL])
        for row in rows:
            del row[_TOTAL]
        return rows, total


def count_of(entity: type[Any], *where: ColumnElement[bool]) -> AnySelect:
    """``SELECT count(*) FROM entity WHERE ...`` (the count side of a :class:`PageQuery`)."""
    return select(func.count()).select_from(entity).where(*where)


@dataclasses.dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    defaults: dict[str, Any]
    utc_binds: tuple[str, ...]


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given; chartguard stores aware UTC datetimes")
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def run_on_driver(conn: Connection, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run ``sql`` (the driver's parameter style) on ``conn``'s psycopg connection and
    return its rows (none for a statement without). Errors are raised as SQLAlchemy
    would raise them (a :class:`DBAPIError`), and a connection the driver reports lost
    is invalidated so the pool does not hand it out again."""
    return run_pipelined(conn, [(sql, params)])[0]


def run_pipelined(
    conn: Connection, statements: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[list[tuple[Any, ...]]]:
    """:func:`run_on_driver` for several statements, sent together when more than one
    (they run in order; an error stops the rest)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    dialect = conn.dialect
    try:
        if len(statements) == 1:
            cursors = [driver.execute(*statements[0])]
        else:
            with driver.pipeline():
                cursors = [driver.execute(sql, params) for sql, params in statements]
        return [
            list(cursor.fetchall()) if cursor.description is not None else []
            for cursor in cursors
        ]
    except dialect.loaded_dbapi.Error as e:
        disconnect = dialect.is_disconnect(e, conn.connection.dbapi_connection, None)
        if disconnect:
            conn.invalidate(e)
        raise DBAPIError.instance(
            "; ".join(sql for sql, _ in statements),
            {},  # values may be patient data: never carried in the error
            e,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,  # values may be patient data
            connection_invalidated=disconnect,
            dialect=dialect,
        ) from e


__all__ = [
    "FastQuery",
    "PageQuery",
    "all_of",
    "Queryable",
    "Row",
    "columns_of",
    "connection_of",
    "count_of",
    "run_on_driver",
    "run_pipelined",
]
