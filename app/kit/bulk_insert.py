"""Multi-row INSERTs for hot write paths, said to the database driver in one call.

Through SQLAlchemy's async adaptation every statement on SQLite costs four hops to
aiosqlite's thread (cursor, execute, fetch, close) and as many greenlet switches: measured
on a 2-core VM, ~500 µs of event-loop CPU for a one-row INSERT, against ~25 µs for the same
statement said to aiosqlite directly (one hop). With the server pinned to one core each hop
is also a thread switch that waits for the GIL while the loop is busy, which is what made
the live-chat writer's latency spike under load. So on SQLite the rows go to the driver in
one `execute_fetchall`. On PostgreSQL the rows go to asyncpg as one array per column
(`INSERT ... SELECT unnest(...)`): one statement text whatever the row count, prepared
once per connection, and no per-row parameter building in SQLAlchemy (200 rows: ~1.5 ms
of CPU instead of ~2.5). Anything else, or a PostgreSQL transaction not yet begun, runs
the same INSERT through SQLAlchemy Core.

Either way the values pass through each column type's own bind processor, so a row is
stored exactly as the ORM would store it, and the statement runs on the session's
connection inside its transaction (committed or rolled back with it). Driver errors come
back as SQLAlchemy's exception classes, as they would from `session.execute`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import PoolProxiedConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

Row = Mapping[str, Any]
Returned = tuple[Any, ...]
# SQLite's limit on bound values per statement (since 3.32; older builds allowed 999).
SQLITE_MAX_VARIABLES = 32_766


@dataclass(eq=False)
class BulkInsert:
    """INSERT INTO `table` (`columns`) VALUES …, many rows per statement.

    `skip_conflicts_on`: a unique key; rows that would break it are skipped by the
    database (ON CONFLICT … DO NOTHING) and are absent from the returned rows.
    `returning`: columns to return, one tuple per inserted row, in no particular order
    (SQLite does not promise one): match them to the rows by a key.
    """

    table: Table
    columns: tuple[str, ...]
    returning: tuple[str, ...] = ()
    skip_conflicts_on: tuple[str, ...] = ()
    _processors: dict[str, list[Callable[[Any], Any] | None]] = field(
        default_factory=dict, init=False, repr=False
    )
    _sql: dict[tuple[str, int], str] = field(default_factory=dict, init=False, repr=False)

    async def run(self, session: AsyncSession, rows: Sequence[Row]) -> list[Returned]:
        """Insert `rows` in the session's transaction; the `returning` values of each."""
        if not rows:
            return []
        connection = await session.connection()  # begins the transaction if none is open
        raw = await connection.get_raw_connection()
        dialect = connection.dialect
        if dialect.name == "sqlite" and raw.driver_connection is not None:
            return await self._sqlite(raw.driver_connection, dialect, rows)
        if dialect.name == "postgresql" and _asyncpg_transaction_open(raw):
            return await self._postgresql(raw, dialect, rows)
        return await self._through_core(connection, rows)

    async def _sqlite(self, driver: Any, dialect: Dialect, rows: Sequence[Row]) -> list[Returned]:
        returned: list[Returned] = []
        step = SQLITE_MAX_VARIABLES // len(self.columns)
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            sql = self._sqlite_sql(dialect, len(chunk))
            params = self._flat_params(dialect, chunk)
            try:
                result = await driver.execute_fetchall(sql, params)
            except dialect.loaded_dbapi.Error as exc:
                raise DBAPIError.instance(sql, params, exc, dialect.loaded_dbapi.Error) from exc
            returned.extend(tuple(r) for r in result)
        return returned

    async def _postgresql(
        self, raw: PoolProxiedConnection, dialect: Dialect, rows: Sequence[Row]
    ) -> list[Returned]:
        """One statement whatever the row count (arrays, unnested), so asyncpg prepares it
        once per connection instead of once per batch size."""
        sql = self._postgresql_sql(dialect)
        processors = self._processors_for(dialect)
        arrays = [
            [row[name] if process is None else process(row[name]) for row in rows]
            for name, process in zip(self.columns, processors, strict=True)
        ]
        try:
            result = await raw.driver_connection.fetch(sql, *arrays)  # type: ignore[union-attr]
        except Exception as exc:
            raise _as_dbapi_error(raw, dialect, sql, arrays, exc) from exc
        return [tuple(r) for r in result]

    async def _through_core(
        self, connection: AsyncConnection, rows: Sequence[Row]
    ) -> list[Returned]:
        values = [{name: row[name] for name in self.columns} for row in rows]
        make: Any = insert  # ON CONFLICT needs the dialect's own INSERT
        if self.skip_conflicts_on:
            make = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        stmt = self._completed(make(self.table))
        if not self.returning:
            await connection.execute(stmt, values)  # executemany: one round trip
            return []
        return [tuple(r) for r in await connection.execute(stmt, values)]

    def _completed(self, stmt: Any) -> Any:
        """The INSERT with its conflict clause and RETURNING, as configured."""
        if self.skip_conflicts_on:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(self.skip_conflicts_on))
        if self.returning:
            stmt = stmt.returning(*(self.table.c[name] for name in self.returning))
        return stmt

    @staticmethod
    def _compiled(stmt: Any, dialect: Dialect, placeholders: list[str]) -> str:
        """The statement's SQL; its positional placeholders must come in this order, which
        is the order the parameters are sent in."""
        compiled = stmt.compile(dialect=dialect)
        if list(compiled.positiontup or []) != placeholders:
            raise RuntimeError(f"unexpected placeholder order in {compiled.string}")
        return str(compiled.string)

    def _sqlite_sql(self, dialect: Dialect, count: int) -> str:
        """The statement for `count` rows (parameters row by row, column by column),
        compiled by SQLAlchemy once per row count."""
        key = (dialect.name, count)
        if key not in self._sql:
            names = [[f"p{row}_{col}" for col in range(len(self.columns))] for row in range(count)]
            rows: list[dict[str, Any]] = [
                {c: bindparam(n) for c, n in zip(self.columns, row_names, strict=True)}
                for row_names in names
            ]
            stmt = self._completed(sqlite_insert(self.table).values(rows))
            self._sql[key] = self._compiled(stmt, dialect, [n for row in names for n in row])
        return self._sql[key]

    def _postgresql_sql(self, dialect: Dialect) -> str:
        """The statement for any row count: one array parameter per column, unnested."""
        key = (dialect.name, 0)
        if key not in self._sql:
            names = [f"p{i}" for i in range(len(self.columns))]
            arrays = select(
                *(
                    func.unnest(bindparam(name, type_=ARRAY(self.table.c[column].type)))
                    for name, column in zip(names, self.columns, strict=True)
                )
            )
            stmt = self._completed(pg_insert(self.table).from_select(list(self.columns), arrays))
            self._sql[key] = self._compiled(stmt, dialect, names)
        return self._sql[key]

    def _processors_for(self, dialect: Dialect) -> list[Callable[[Any], Any] | None]:
        processors = self._processors.get(dialect.name)
        if processors is None:
            # dialect_impl: the dialect's own type (SQLite's DATETIME renders the string
            # SQLAlchemy compares against), wrapped by any TypeDecorator's own step.
            processors = [
                self.table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
                for c in self.columns
            ]
            self._processors[dialect.name] = processors
        return processors

    def _flat_params(self, dialect: Dialect, rows: Sequence[Row]) -> list[Any]:
        pairs = list(zip(self.columns, self._processors_for(dialect), strict=True))
        return [
            row[name] if process is None else process(row[name])
            for row in rows
            for name, process in pairs
        ]


def _asyncpg_transaction_open(raw: PoolProxiedConnection) -> bool:
    """Whether SQLAlchemy's asyncpg adapter has begun its transaction on this connection.

    The adapter begins it lazily, at its first statement: a statement said to asyncpg
    before that would run outside the transaction (autocommitted), so until then the rows
    go through SQLAlchemy. `_transaction` is the adapter's own (private) attribute; if it
    ever goes away, this answers False and everything still works, through Core.
    """
    return getattr(raw.dbapi_connection, "_transaction", None) is not None


def _as_dbapi_error(
    raw: PoolProxiedConnection, dialect: Dialect, sql: str, params: Any, exc: Exception
) -> Exception:
    """asyncpg's exception as SQLAlchemy raises it (IntegrityError for a broken key, ...)."""
    dbapi = dialect.loaded_dbapi
    translate = getattr(type(raw.dbapi_connection), "_handle_exception_no_connection", None)
    orig: Exception = exc
    if translate is not None:
        try:
            translate(dbapi, exc)  # raises the DB-API form of the error
        except dbapi.Error as translated:
            orig = translated
        except Exception:  # noqa: S110 - keep asyncpg's own error if it cannot be translated
            pass
    return DBAPIError.instance(sql, params, orig, dbapi.Error)
