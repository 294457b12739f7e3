"""Dagster's SQLite run history (runs and their events), with one SQLAlchemy engine per file.

``make run``, ``make dev`` and ``make cluster`` keep Dagster's runs and events in SQLite files
under ``$DAGSTER_HOME`` (``dagster_home/dagster.yaml`` names the two classes below). Dagster's
own SQLite storages build a new SQLAlchemy engine, and open a new SQLite connection, for every
transaction: every statement is compiled again, and closing the connection checkpoints the
file's write-ahead log (two disk flushes). In ``make run`` that was about 2 000 engines and as
many checkpoints, 5–6 s of its 22 s (measured December 2026 with dagster 1.13.27). These
subclasses keep one engine per file and process, with SQLAlchemy's cache of compiled
statements; the run database (``history/runs.db``) and the event index
(``history/runs/index.db``) also keep their connections open; every connection commits with
``synchronous=NORMAL`` (write-ahead-log mode flushes at checkpoints, not at every commit).

Otherwise nothing changes: the same files in the same places, the same schema and migrations.
A run's own event file (``history/runs/<run id>.db``) still gets a new connection per
transaction, closed after it: the checkpoint on close is what the UI's live view of a run
watches for. A forked process (the multiprocess executor, Celery workers) builds engines of
its own and leaves its parent's alone. Removing run files (``wipe``) drops the engines first.

Deployments on Postgres (``deploy/dagster.yaml``) do not use these classes.

Both classes replace the storage's connection method (``_connect`` of the event log,
``connect`` of the run storage) of the pinned dagster release;
``tests/pipelines/test_history.py`` fails when a release changes them.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
import sqlalchemy as sa
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, QueuePool

#: Unpooled engines (one per run's event file) kept per process, the most recently used.
UNPOOLED_ENGINES = 32

#: Where Dagster's default SQLite storages keep runs (``runs.db``) and events (``runs/``),
#: below ``$DAGSTER_HOME``; the classes default to the same places.
HISTORY = "history"


def _history_dir(*parts: str) -> str:
    """``$DAGSTER_HOME/history/<parts>``: where Dagster's default storages keep run history."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise dg.DagsterInvariantViolationError(
            "DAGSTER_HOME is not set: the run history's base_dir defaults to "
            "$DAGSTER_HOME/history; set one or the other")
    return os.path.join(home, HISTORY, *parts)


class _Engines:
    """SQLAlchemy engines by connection string, for the process that built them.

    ``pooled`` engines keep their connections open between transactions (``QueuePool``,
    thread-safe); the others open and close one per transaction (``NullPool``). Every
    connection commits with ``synchronous=NORMAL``: in write-ahead-log mode a commit is then not
    flushed to disk on its own but at the next checkpoint; a power cut may lose the last events,
    never the file.

    At most :data:`UNPOOLED_ENGINES` unpooled engines are kept, the most recently used: a
    long-running webserver or daemon reads the files of ever more runs.
    """

    def __init__(self) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._pooled: set[str] = set()
        self._pid = os.getpid()
        self._inherited: list[Engine] = []

    def get(self, url: str, pooled: bool = False, **connect_args: Any) -> Engine:
        if self._pid != os.getpid():
            # forked: the parent's engines and open connections stay the parent's; they are
            # kept (not closed, not collected: closing an inherited SQLite handle in the child
            # would disturb the parent's locks) and this process builds its own
            self._inherited.extend(self._engines.values())
            self._engines, self._pooled, self._pid = OrderedDict(), set(), os.getpid()
        engine = self._engines.get(url)
        if engine is not None:
            self._engines.move_to_end(url)
            return engine
        engine = create_engine(url, poolclass=QueuePool if pooled else NullPool,
                               connect_args={"check_same_thread": False, **connect_args})
        sa.event.listen(engine, "connect", _normal_sync)
        self._engines[url] = engine
        if pooled:
            self._pooled.add(url)
        elif len(self._engines) - len(self._pooled) > UNPOOLED_ENGINES:
            # the least recently used unpooled engine goes (it holds no connection: NullPool)
            del self._engines[next(u for u in self._engines if u not in self._pooled)]
        return engine

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines, self._pooled = OrderedDict(), set()


def _normal_sync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class _EnginePerFile:
    """What both storages add to Dagster's: ``base_dir`` optional in ``dagster.yaml``, and
    their engines dropped when the storage is disposed of."""

    _engines: _Engines

    @classmethod
    def config_type(cls) -> dict[str, dg.Field]:  # numpydoc ignore=RT01
        """``base_dir``, optional."""
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    def dispose(self) -> None:
        """Dispose of the storage (the parent's ``dispose``), then of its engines."""
        super().dispose()  # type: ignore[misc]
        self._engines.dispose()


class SqliteEventLog(_EnginePerFile, SqliteEventLogStorage):
    """Dagster's SQLite event log (a file per run and an index file), one engine per file.

    Parameters
    ----------
    base_dir : str, optional
        The folder of the files; default ``$DAGSTER_HOME/history/runs``, where Dagster's default
        storage keeps them.
    inst_data : dagster.serdes.ConfigurableClassData, optional
        Set by Dagster when it builds the storage from ``dagster.yaml``.

    Examples
    --------
    >>> import tempfile
    >>> log = SqliteEventLog(tempfile.mkdtemp())
    >>> log.get_all_run_ids()
    []
    """

    def __init__(self, base_dir: str | None = None, inst_data: Any = None) -> None:
        self._engines = _Engines()  # before the parent's set-up, which may connect
        super().__init__(base_dir or _history_dir("runs"), inst_data)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]
                          ) -> SqliteEventLog:  # numpydoc ignore=PR01,RT01
        """The storage ``dagster.yaml`` describes."""
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engines.get(self.conn_string_for_shard(shard),
                                       pooled=shard == INDEX_SHARD_NAME,
                                       timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def wipe(self) -> None:
        """Delete every run's events (the parent's ``wipe``), the engines first."""
        with self._db_lock:
            self._engines.dispose()
        super().wipe()



class SqliteRuns(_EnginePerFile, SqliteRunStorage):
    """Dagster's SQLite run storage (``runs.db``), one engine per process.

    Built from ``dagster.yaml`` through :meth:`from_config_value` (as Dagster's own class is,
    by ``from_local``, which creates or migrates the file).

    Parameters
    ----------
    conn_string : str
        SQLAlchemy URL of ``runs.db``.
    inst_data : dagster.serdes.ConfigurableClassData, optional
        Set by Dagster when it builds the storage from ``dagster.yaml``.

    Examples
    --------
    >>> import tempfile
    >>> runs = SqliteRuns.from_local(tempfile.mkdtemp())
    >>> runs.get_runs_count()
    0
    """

    def __init__(self, conn_string: str, inst_data: Any = None) -> None:
        self._engines = _Engines()
        super().__init__(conn_string, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]
                          ) -> SqliteRuns:  # numpydoc ignore=PR01,RT01
        """The storage ``dagster.yaml`` describes (default folder ``$DAGSTER_HOME/history``)."""
        return cls.from_local(base_dir=config_value.get("base_dir") or _history_dir(""),
                              inst_data=inst_data)

    @contextmanager
    def connect(self) -> Iterator[Connection]:  # numpydoc ignore=RT01
        """A connection in a transaction, from this process's engine."""
        with self._engines.get(self._conn_string, pooled=True).connect() as conn, conn.begin():
            yield conn
