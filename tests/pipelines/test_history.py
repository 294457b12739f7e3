"""The run history of ``make run`` and ``make dev`` (``dagster_home/dagster.yaml``): Dagster's
SQLite storages with one engine per file, which must behave as Dagster's own — same files, runs
and events read back, the UI's live view of a run notified, a forked process on engines of its
own, a wipe that leaves a working store."""

from __future__ import annotations

import inspect
import multiprocessing
import shutil
import threading

import dagster as dg
import pytest
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage

from fairalloc.pipelines import history
from fairalloc.pipelines.assets import ASSETS
from fairalloc.pipelines.history import SqliteEventLog, SqliteRuns
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.resources import DataDir
from tests import ROOT

SELECTION = dg.AssetSelection.groups("portions")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A DAGSTER_HOME with the repository's dagster.yaml (what ``make run`` uses)."""
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def engines(monkeypatch):
    """The URLs of every engine the history builds."""
    built: list[str] = []
    create = history.create_engine

    def counting(url, **kw):
        built.append(url)
        return create(url, **kw)

    monkeypatch.setattr(history, "create_engine", counting)
    return built


def _job(tmp_path) -> dg.JobDefinition:
    return dg.Definitions(
        assets=ASSETS,
        jobs=[dg.define_asset_job("portions_only", selection=SELECTION)],
        resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path / "storage")),
                   "data_dir": DataDir(path=str(ROOT / "data"))},
    ).resolve_job_def("portions_only")


def _run(instance: dg.DagsterInstance, tmp_path) -> dg.ExecuteInProcessResult:
    return _job(tmp_path).execute_in_process(instance=instance)


def test_the_storages_rely_on_the_connection_methods_of_the_pinned_dagster():
    # the subclasses replace these; a release that renames or reshapes them must fail here
    assert list(inspect.signature(SqliteEventLogStorage._connect).parameters) == ["self", "shard"]
    assert list(inspect.signature(SqliteRunStorage.connect).parameters) == ["self"]
    assert SqliteEventLog._connect is not SqliteEventLogStorage._connect
    assert SqliteRuns.connect is not SqliteRunStorage.connect


def test_make_run_history_keeps_one_engine_per_file(home, engines):
    with dg.DagsterInstance.get() as instance:
        assert type(instance.event_log_storage) is SqliteEventLog
        assert type(instance.run_storage) is SqliteRuns
        result = _run(instance, home)
        assert result.success
        # Dagster's default places, so history written before stays visible
        assert (home / "history" / "runs.db").exists()
        assert (home / "history" / "runs" / f"{result.run_id}.db").exists()
        assert (home / "history" / "runs" / "index.db").exists()
        # events and runs read back
        records = instance.fetch_materializations(dg.AssetKey("portions"), limit=5).records
        assert [r.run_id for r in records] == [result.run_id]
        assert instance.get_run_by_id(result.run_id).is_success
        events = instance.all_logs(result.run_id)
        assert len(events) > 20
    # dozens of transactions, one engine per file: runs.db, the index and the run's file
    assert len(engines) == len(set(engines)) == 3, engines


def test_the_live_view_of_a_run_is_notified_of_new_events(home):
    with dg.DagsterInstance.get() as instance:
        run = instance.create_run_for_job(_job(home))
        seen = threading.Event()
        instance.report_engine_event("before watching", run)  # the run's file exists

        def callback(event, cursor):
            if "while watching" in event.message:
                seen.set()

        instance.watch_event_logs(run.run_id, None, callback)
        try:
            instance.report_engine_event("while watching", run)
            assert seen.wait(20), "the watcher of the run's file was not notified"
        finally:
            instance.end_watch_event_logs(run.run_id, callback)


def _engine_in_child(log: SqliteEventLog, parent_engine_id: int, queue) -> None:
    engine = log._engines.get(log.conn_string_for_shard("index"))
    queue.put(id(engine) != parent_engine_id and len(log.get_all_run_ids()) == 0)


def test_a_forked_process_builds_engines_of_its_own(tmp_path):
    log = SqliteEventLog(str(tmp_path))
    parent = log._engines.get(log.conn_string_for_shard("index"))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_engine_in_child, args=(log, id(parent), queue))
    child.start()
    try:
        assert queue.get(timeout=60) is True
    finally:
        child.join(60)
    assert log._engines.get(log.conn_string_for_shard("index")) is parent


def test_a_wiped_history_works_again(home):
    with dg.DagsterInstance.get() as instance:
        assert _run(instance, home).success
        instance.wipe()
        assert instance.get_runs_count() == 0
        assert instance.event_log_storage.get_all_run_ids() == []
        result = _run(instance, home)
        assert result.success
        assert instance.event_log_storage.get_all_run_ids() == [result.run_id]


def test_without_dagster_home_the_default_folder_is_refused(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(dg.DagsterInvariantViolationError, match="DAGSTER_HOME"):
        SqliteEventLog.from_config_value(None, {})


def test_connections_commit_without_a_flush_each_and_threads_share_the_history(home):
    with dg.DagsterInstance.get() as instance:
        result = _run(instance, home)
        storages = (instance.run_storage.connect(),
                    instance.event_log_storage.index_connection(),
                    instance.event_log_storage.run_connection(result.run_id))
        for connection in storages:
            with connection as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        run = instance.get_run_by_id(result.run_id)
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                for j in range(10):
                    instance.report_engine_event(f"thread {i} event {j}", run)
                    instance.add_run_tags(run.run_id, {f"thread{i}": str(j)})
                    assert instance.get_runs_count() == 1
                    instance.fetch_materializations(dg.AssetKey("portions"), limit=1)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        messages = [e.message for e in instance.all_logs(result.run_id)]
        assert sum(m.startswith("thread ") for m in messages) == 80
        # every thread's last tag was committed to the tags table; the run's own copy of its
        # tags is read, merged and written back by Dagster without a transaction, so two
        # threads can overwrite each other's keys there (a lost update under load, not
        # something the history's connections do)
        keys = [f"thread{i}" for i in range(8)]
        values = dict(instance.get_run_tags(tag_keys=keys))
        assert sorted(values) == keys and all("9" in values[k] for k in keys), values


def test_a_long_running_process_keeps_a_bounded_number_of_engines(tmp_path, engines):
    log = SqliteEventLog(str(tmp_path))
    with log._connect("index") as conn:  # the pooled index stays whatever else comes and goes
        conn.exec_driver_sql("SELECT 1")
    shards = [f"run{i}" for i in range(history.UNPOOLED_ENGINES + 10)]
    for shard in shards:
        with log._connect(shard) as conn:
            conn.exec_driver_sql("SELECT 1")
    kept = list(log._engines._engines)
    assert len(kept) == history.UNPOOLED_ENGINES + 1
    assert log.conn_string_for_shard("index") in kept
    assert log.conn_string_for_shard(shards[0]) not in kept  # the least recently used went
    assert log.conn_string_for_shard(shards[-1]) in kept
    with log._connect(shards[0]) as conn:  # and comes back when needed
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
