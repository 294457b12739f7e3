"""The Parquet IO manager: round trips on a folder and on ``memory://``, the Hive layout, the
split of a single-run backfill, atomic writes, provenance, and ``load_output``."""

import json
import os
import uuid
from typing import NamedTuple

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import given

from fairalloc.pipelines import io_manager as iom
from fairalloc.pipelines.io_manager import (
    PART_FILE,
    PROVENANCE_KEY,
    ParquetIOManager,
    asset_folder,
    asset_path,
    hive_segments,
    key_of_segments,
    partition_path,
    read_provenance,
    split_by_partition,
    storage_root,
    to_arrow,
    write_atomic,
)
from fairalloc.pipelines.outputs import (
    list_outputs,
    load_output,
    load_provenance,
    output_rows,
    stored_outputs,
)
from fairalloc.pipelines.partitions import PARTITION_BY, partition_key
from fairalloc.transforms.errors import InputTypeError, ParameterError, UnknownKeyError
from tests.strategies import STORAGE_GROUP_VALUES, storage_split_instances


def _indexed() -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples([("c", 2024, "A", "X"), ("c", 2025, "B", "Y")],
                                      names=["commodity", "year", "source", "sink"])
    return pd.DataFrame({"source_volume": [1.5, 2.0], "sink_volume": [1.5, 2.5]}, index=index)


# --- one file -------------------------------------------------------------------------------


def test_multiindex_round_trip_and_keys_first_for_polars(tmp_path):
    path = tmp_path / "t.parquet"
    write_atomic(_indexed(), path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), _indexed())
    assert pl.read_parquet(path).columns[:4] == ["commodity", "year", "source", "sink"]


def test_series_and_plain_frames_round_trip(tmp_path):
    s = _indexed()["sink_volume"]
    write_atomic(s, tmp_path / "s.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s.parquet"), s.to_frame())
    plain = pd.DataFrame({"a": [1, 2]})
    write_atomic(plain, tmp_path / "p.parquet")
    assert pl.read_parquet(tmp_path / "p.parquet").columns == ["a"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "p.parquet"), plain)


def test_outputs_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    write_atomic(_indexed(), tmp_path / "t.parquet")
    assert (tmp_path / "t.parquet").stat().st_mode & 0o777 == 0o666 & ~umask


def test_non_tables_are_refused_and_leave_the_old_file(tmp_path):
    path = tmp_path / "t.parquet"
    write_atomic(_indexed(), path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_atomic({"not": "a table"}, path)  # type: ignore[arg-type]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_a_write_failing_midway_is_never_visible_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    write_atomic(_indexed(), path)
    before = path.read_bytes()
    seen = []
    real = pq.write_table

    def half_then_fail(table, where, **kwargs):
        real(table.slice(0, 1), where, **kwargs)  # a partial file, in the temporary place
        seen.append((os.path.dirname(where), os.path.basename(where), path.read_bytes()))
        raise OSError("disk full")

    monkeypatch.setattr(iom.pq, "write_table", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(_indexed() * 2, path)
    (folder, name, during), = seen
    assert folder == str(tmp_path) and name.startswith(".fairalloc-tmp-t.parquet.")
    assert during == before  # readers saw the old file while the new one was written
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_provenance_sits_beside_the_pandas_metadata(tmp_path):
    path = tmp_path / "t.parquet"
    write_atomic(_indexed(), path, {"run_id": "r1", "partition": None})
    schema = pq.read_schema(path)
    assert b"pandas" in schema.metadata
    assert json.loads(schema.metadata[PROVENANCE_KEY.encode()]) == {"run_id": "r1",
                                                                   "partition": None}
    assert read_provenance(schema) == {"run_id": "r1", "partition": None}
    pd.testing.assert_frame_equal(pd.read_parquet(path), _indexed())


# --- the split of a multi-partition output ----------------------------------------------------


@given(storage_split_instances())
def test_split_gives_each_key_exactly_its_groups_rows(instance):
    frame, keys = instance
    table = to_arrow(frame)
    parts = split_by_partition(table, ["commodity", "year"], keys)
    assert list(parts) == keys
    for key, part in parts.items():
        assert part.schema == table.schema
        mine = np.array([partition_key(g) == key for g in
                         zip(frame["commodity"], frame["year"], strict=True)], dtype=bool)
        expected = frame[mine]
        got = part.to_pandas()
        pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                      expected.reset_index(drop=True))
    assert sum(p.num_rows for p in parts.values()) == len(frame)


@given(STORAGE_GROUP_VALUES)
def test_hive_folders_round_trip_any_group_values(values):
    columns = [f"c{i}" for i in range(len(values))]
    key = partition_key(values)
    segments = hive_segments(columns, key)
    for segment in segments:  # one folder each, never "." or ".." or an absolute path
        assert "/" not in segment and segment.split("=", 1)[0] in columns
    assert key_of_segments(segments) == (columns, key)


def test_split_names_the_foreign_groups_and_missing_columns():
    table = to_arrow(pd.DataFrame({"commodity": ["a", "b", "c"], "year": [1, 2, 2],
                                   "v": [1.0, 2.0, 3.0]}).set_index(["commodity", "year"]))
    with pytest.raises(UnknownKeyError, match="not among the run's partition keys") as err:
        split_by_partition(table, ["commodity", "year"], ["a|1"])
    assert err.value.keys == ["b|2", "c|2"]
    with pytest.raises(InputTypeError, match="no partition columns") as err:
        split_by_partition(table, ["commodity", "region"], ["a|1"])
    assert err.value.keys == ["region"]


def test_split_of_polars_columns_keeps_dtypes():
    frame = pl.DataFrame({"year": [2024, 2024, 2023], "v": [1.0, 2.0, 3.0]},
                         schema={"year": pl.Int16, "v": pl.Float32})
    parts = split_by_partition(to_arrow(frame), ["year"], ["2023", "2024"])
    assert pl.from_arrow(parts["2024"]).equals(frame.head(2))
    assert pl.from_arrow(parts["2023"]).schema == frame.schema


# --- through Dagster ----------------------------------------------------------------------------

GROUPS = dg.DynamicPartitionsDefinition(name="storage_test_groups")
KEYS = ["cocoa|2024", "cocoa|2025", "soy|2024", "soy|2023"]  # soy|2023 has no rows


def _rows() -> pd.DataFrame:
    """A sourcing-like table: groups (commodity, year), then source and sink."""
    return pd.DataFrame({
        "commodity": ["cocoa", "cocoa", "soy", "cocoa", "soy"],
        "year": np.array([2024, 2025, 2024, 2024, 2024], dtype="int32"),
        "source": ["A", "B", "C", "D", "A"],
        "sink": ["X", "X", "Y", "Z", "Z"],
        "volume": [1.0, 2.0, 3.0, 4.0, 5.0],
    }).set_index(["commodity", "year", "source", "sink"])


class ScaleConfig(dg.Config):
    factor: float = 1.0


@dg.asset(partitions_def=GROUPS, metadata={PARTITION_BY: ["commodity", "year"]},
          backfill_policy=dg.BackfillPolicy.single_run(), code_version="in-1")
def grouped_input(context) -> dg.Output[pl.DataFrame]:
    """All rows of the run's groups, flat (polars), with a data version per run."""
    rows = pl.from_pandas(_rows().reset_index())
    keys = set(context.partition_keys)
    picked = rows.filter(pl.Series([partition_key(g) in keys for g in
                                    rows.select("commodity", "year").iter_rows()]))
    version = "rows-" + "+".join(sorted(keys))
    return dg.Output(picked, data_version=dg.DataVersion(version),
                     metadata={"source_file": "matches.parquet"})


@dg.asset(partitions_def=GROUPS, metadata={PARTITION_BY: ["commodity", "year"]},
          backfill_policy=dg.BackfillPolicy.single_run(), code_version="alloc-7")
def grouped_alloc(config: ScaleConfig, grouped_input: pd.DataFrame) -> pd.DataFrame:
    """The input as pandas with its MultiIndex, volumes scaled."""
    out = grouped_input.set_index(["commodity", "year", "source", "sink"])
    return out * config.factor


@dg.asset(code_version="sum-1")
def everything(grouped_alloc: pd.DataFrame) -> pd.DataFrame:
    """All partitions at once (an unpartitioned reader of a partitioned asset)."""
    return grouped_alloc


@dg.asset
def everything_flat(grouped_alloc: pl.DataFrame) -> pl.DataFrame:
    return grouped_alloc


@dg.asset
def per_key(grouped_alloc: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.DataFrame({"rows": {k: len(v) for k, v in grouped_alloc.items()}})


ALL = [grouped_input, grouped_alloc, everything, everything_flat, per_key]


def _backfill_tags(keys: list[str]) -> dict[str, str]:
    """Tags of one run over a range of partition keys (a single-run backfill)."""
    return {"dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1]}


def _new_store(kind: str, tmp_path_factory) -> str:
    if kind == "folder":
        return str(tmp_path_factory.mktemp("storage"))
    return f"memory://fairalloc-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def store(request, tmp_path_factory) -> str:
    return _new_store(getattr(request, "param", "memory"), tmp_path_factory)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(GROUPS.name, KEYS)
        yield inst


def _run(store, instance, selection, *, tags=None, partition_key=None, factor=1.0,
         raise_on_error=True):
    return dg.materialize(
        ALL, selection=selection, instance=instance, tags=tags, partition_key=partition_key,
        resources={"io_manager": ParquetIOManager(base_dir=store)},
        run_config={"ops": {"grouped_alloc": {"config": {"factor": factor}}}}
        if "grouped_alloc" in selection else None,
        raise_on_error=raise_on_error)


class Pipeline(NamedTuple):
    store: str
    instance: dg.DagsterInstance
    input_runs: dict[str, str]  # partition key → run id of its input
    alloc_run: str
    readers_run: str


_BUILT: dict[str, Pipeline] = {}


def _build(kind: str, tmp_path_factory) -> Pipeline:
    """The test assets materialised once per kind of store: the inputs in two single-run
    backfills (so halves of the keys carry different data versions), the allocation in one
    single-run backfill over every key (one key without rows), then the unpartitioned readers."""
    if kind not in _BUILT:
        store = _new_store(kind, tmp_path_factory)
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(GROUPS.name, KEYS)
        input_runs = {}
        for half in (KEYS[:2], KEYS[2:]):
            result = _run(store, instance, ["grouped_input"], tags=_backfill_tags(half))
            input_runs.update(dict.fromkeys(half, result.run_id))
        alloc = _run(store, instance, ["grouped_alloc"], tags=_backfill_tags(KEYS), factor=2.0)
        readers = _run(store, instance, ["everything", "everything_flat", "per_key"])
        _BUILT[kind] = Pipeline(store, instance, input_runs, alloc.run_id, readers.run_id)
    return _BUILT[kind]


@pytest.fixture(scope="module", params=["folder", "memory"])
def pipeline(request, tmp_path_factory) -> Pipeline:
    return _build(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory) -> Pipeline:
    return _build("folder", tmp_path_factory)


def _backfill_tags(keys: list[str]) -> dict[str, str]:
    """Tags of one run over a range of partition keys (a single-run backfill)."""
    return {"dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1]}


def _expected(key: str | None = None, factor: float = 1.0) -> pd.DataFrame:
    rows = _rows() * factor
    if key is None:
        return rows.sort_index(level=["commodity", "year"], sort_remaining=False)
    commodity, year = key.split("|")
    return rows[(rows.index.get_level_values("commodity") == commodity)
                & (rows.index.get_level_values("year") == int(year))]


def test_single_run_backfill_writes_one_hive_file_per_key(pipeline):
    root = storage_root(pipeline.store)
    found = sorted(f[len(root.path.rstrip("/")) + 1:] for f in root.fs.find(root.path))
    assert found == sorted(
        [f"{asset}/commodity={c}/year={y}/{PART_FILE}"
         for asset in ("grouped_alloc", "grouped_input")
         for c, y in (k.split("|") for k in KEYS)]
        + ["everything.parquet", "everything_flat.parquet", "per_key.parquet"])
    for key in KEYS:
        got = load_output("grouped_alloc", key, storage=pipeline.store)
        pd.testing.assert_frame_equal(got, _expected(key, 2.0), check_index_type=True)
    empty = load_output("grouped_alloc", "soy|2023", storage=pipeline.store)
    assert empty.empty and empty.index.names == _expected().index.names
    assert empty.index.get_level_values("year").dtype == np.dtype("int32")
    every = load_output("grouped_alloc", storage=pipeline.store)
    pd.testing.assert_frame_equal(every, pd.concat([_expected(k, 2.0) for k in sorted(KEYS)]))
    flat = load_output("grouped_alloc", storage=pipeline.store, as_polars=True)
    assert flat.columns == ["commodity", "year", "source", "sink", "volume"]
    assert flat.schema["year"] == pl.Int32 and flat.height == len(_rows())


def test_partitioned_inputs_load_as_one_table_or_per_key(pipeline):
    whole = load_output("everything", storage=pipeline.store)
    pd.testing.assert_frame_equal(whole.sort_index(), _expected(factor=2.0).sort_index())
    flat = load_output("everything_flat", storage=pipeline.store, as_polars=True)
    assert flat.sort(["commodity", "year", "source"]).equals(
        pl.from_pandas((_rows() * 2.0).reset_index()).sort(["commodity", "year", "source"]))
    counts = load_output("per_key", storage=pipeline.store)["rows"].to_dict()
    assert counts == {k: len(_expected(k)) for k in KEYS}


def test_a_group_outside_the_runs_keys_is_refused_before_anything_is_written(store, instance):
    # the asset returns every group's rows, but the run covers one key only
    @dg.asset(name="grouped_alloc", partitions_def=GROUPS,
              metadata={PARTITION_BY: ["commodity", "year"]})
    def leaky() -> pd.DataFrame:
        return _rows()

    result = dg.materialize([leaky], instance=instance, partition_key="cocoa|2024",
                            resources={"io_manager": ParquetIOManager(base_dir=store)},
                            raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    text = error.message + (error.cause.message if error.cause else "")
    assert "UnknownKeyError" in text
    assert "'cocoa|2025', 'soy|2024' (2 in all)" in text
    assert list_outputs(store) == []


def test_provenance_of_every_partition_file(pipeline):
    provs = load_output("grouped_alloc", storage=pipeline.store).attrs["provenance"]
    assert set(provs) == set(KEYS)
    for key in KEYS:
        prov = provs[key]
        assert prov == load_provenance("grouped_alloc", key, storage=pipeline.store)
        assert prov["asset"] == "grouped_alloc" and prov["partition"] == key
        assert prov["run_id"] == pipeline.alloc_run
        assert prov["code_version"] == "alloc-7"
        assert prov["run_config"] == {"factor": 2.0}
        upstream = prov["inputs"]["grouped_input"]
        half = KEYS[:2] if key in KEYS[:2] else KEYS[2:]
        assert upstream["data_version"] == "rows-" + "+".join(sorted(half))
        assert upstream["partition"] == key
        assert upstream["source_file"] == "matches.parquet"
        assert upstream["run_id"] == pipeline.input_runs[key]
        # the input files carry their step's own metadata, and no upstream
        own = load_provenance("grouped_input", key, storage=pipeline.store)
        assert own["inputs"] == {} and own["metadata"]["source_file"] == "matches.parquet"
        assert own["code_version"] == "in-1" and own["run_id"] == pipeline.input_runs[key]


def test_provenance_of_an_unpartitioned_reader(pipeline):
    prov = load_output("everything", storage=pipeline.store).attrs["provenance"]
    assert prov["run_id"] == pipeline.readers_run and prov["partition"] is None
    assert prov["code_version"] == "sum-1" and prov["run_config"] is None
    # a reader of all partitions gets Dagster's one version over the partitions it read
    upstream = prov["inputs"]["grouped_alloc"]
    assert upstream["partitions"] == "combined" and len(upstream["data_version"]) == 64
    assert upstream["run_id"] == pipeline.alloc_run


def test_load_output_errors_name_what_is_stored(pipeline):
    store = pipeline.store
    with pytest.raises(FileNotFoundError, match=r"'nothing'.*stored: everything, "
                                                r"everything_flat, grouped_alloc"):
        load_output("nothing", storage=store)
    with pytest.raises(FileNotFoundError, match=r"no stored partition 'tea\|2024'.*cocoa\|2024"):
        load_output("grouped_alloc", "tea|2024", storage=store)
    with pytest.raises(ParameterError, match="not partitioned"):
        load_output("everything", "cocoa|2024", storage=store)
    two = load_output("grouped_alloc", ["soy|2024", "cocoa|2025"], storage=store)
    pd.testing.assert_frame_equal(two, pd.concat([_expected("soy|2024", 2.0),
                                                  _expected("cocoa|2025", 2.0)]))
    assert set(two.attrs["provenance"]) == {"soy|2024", "cocoa|2025"}
    stored = stored_outputs(store)
    assert {n: len(o.partitions) for n, o in stored.items()} == {
        "everything": 0, "everything_flat": 0, "grouped_alloc": 4, "grouped_input": 4,
        "per_key": 0}
    assert output_rows(stored["grouped_alloc"]) == len(_rows())


@pytest.mark.parametrize("store", ["folder", "memory"], indirect=True)
def test_a_partitioned_asset_replaces_its_old_unpartitioned_file(store, instance):
    write_atomic(_rows(), asset_path(store, "grouped_input"))
    assert _run(store, instance, ["grouped_input"], tags=_backfill_tags(KEYS)).success
    assert not asset_path(store, "grouped_input").exists()
    assert len(stored_outputs(store)["grouped_input"].partitions) == 4


@pytest.mark.parametrize("store", ["folder", "memory"], indirect=True)
def test_an_unpartitioned_asset_replaces_its_old_partitions(store, instance):
    for key in KEYS[:2]:
        write_atomic(_expected(key), partition_path(store, "everything", ["commodity", "year"],
                                                    key))
    for key in KEYS:
        write_atomic(_expected(key), partition_path(store, "grouped_alloc",
                                                    ["commodity", "year"], key))
    assert _run(store, instance, ["everything"]).success
    stored = stored_outputs(store)
    assert not stored["everything"].partitioned
    assert {f.split("/")[-1] for f in storage_root(store).fs.find(
        asset_folder(store, "everything").path)} == set()
    pd.testing.assert_frame_equal(load_output("everything", storage=store),
                                  pd.concat([_expected(k) for k in sorted(KEYS)]))


def test_polars_outputs_and_typed_loading(tmp_path):
    manager = ParquetIOManager(base_dir=str(tmp_path))

    @dg.asset
    def upstream() -> pl.DataFrame:
        return pl.DataFrame({"k": ["a", "b"], "v": [1.0, 2.0]})

    @dg.asset
    def as_polars(upstream: pl.DataFrame) -> pl.DataFrame:
        assert isinstance(upstream, pl.DataFrame)
        return upstream

    @dg.asset
    def as_pandas(upstream: pd.DataFrame) -> pd.DataFrame:
        assert isinstance(upstream, pd.DataFrame)
        return upstream.set_index("k")

    @dg.asset
    def as_lazy(upstream: pl.LazyFrame) -> pl.LazyFrame:
        assert isinstance(upstream, pl.LazyFrame)
        return upstream.filter(pl.col("v") > 1)

    result = dg.materialize([upstream, as_polars, as_pandas, as_lazy],
                            resources={"io_manager": manager})
    assert result.success
    assert asset_path(tmp_path, dg.AssetKey(["upstream"])).is_file()
    assert pd.read_parquet(tmp_path / "as_pandas.parquet").index.name == "k"
    assert pl.read_parquet(tmp_path / "as_lazy.parquet").to_dicts() == [{"k": "b", "v": 2.0}]
    assert not list(tmp_path.glob("**/.fairalloc-tmp-*"))


def test_the_readme_reads_of_a_hive_folder(on_disk):
    folder = os.path.join(on_disk.store, "grouped_alloc")
    table = pd.read_parquet(folder, partitioning=None)
    pd.testing.assert_frame_equal(table.sort_index(), _expected(factor=2.0).sort_index())
    lazy = pl.scan_parquet(f"{folder}/**/*.parquet", hive_partitioning=True)
    frame = lazy.filter(pl.col("commodity") == "cocoa").collect()
    assert frame.schema["year"] == pl.Int32
    assert sorted(frame["volume"].to_list()) == [2.0, 4.0, 8.0]


def test_provenance_names_the_observed_version_of_an_external_input(instance):
    store = f"memory://fairalloc-test-{uuid.uuid4().hex[:8]}"

    @dg.observable_source_asset(name="input_file")
    def input_file():
        return dg.DataVersion("sha256-of-the-file")

    @dg.asset(deps=[input_file], code_version="reads-1")
    def reads_the_file() -> pd.DataFrame:
        return pd.DataFrame({"v": [1.0]})

    observe = dg.define_asset_job("observe_input_file", [input_file])
    defs = dg.Definitions(assets=[input_file], jobs=[observe])
    observed = defs.resolve_job_def("observe_input_file").execute_in_process(instance=instance)
    result = dg.materialize([reads_the_file], instance=instance,
                            resources={"io_manager": ParquetIOManager(base_dir=store)})
    prov = load_provenance("reads_the_file", storage=store)
    assert prov["inputs"] == {"input_file": {
        "data_version": "sha256-of-the-file", "run_id": prov["inputs"]["input_file"]["run_id"],
        "storage_id": prov["inputs"]["input_file"]["storage_id"]}}
    assert prov["inputs"]["input_file"]["run_id"] == observed.run_id != result.run_id
    assert prov["run_id"] == result.run_id and prov["code_version"] == "reads-1"


def test_provenance_takes_each_partitions_observed_version(instance):
    store = f"memory://fairalloc-test-{uuid.uuid4().hex[:8]}"
    files = ["a", "b"]
    by_file = dg.StaticPartitionsDefinition(files)

    @dg.observable_source_asset(name="files_by_key", partitions_def=by_file)
    def files_by_key():
        return dg.DataVersionsByPartition({f: f"sha-{f}" for f in files})

    @dg.asset(deps=[files_by_key], partitions_def=by_file, metadata={PARTITION_BY: ["f"]},
              backfill_policy=dg.BackfillPolicy.single_run())
    def per_file() -> pd.DataFrame:
        return pd.DataFrame({"f": files, "v": [1.0, 2.0]})

    observe = dg.define_asset_job("observe_files_by_key", [files_by_key])
    defs = dg.Definitions(assets=[files_by_key], jobs=[observe])
    defs.resolve_job_def("observe_files_by_key").execute_in_process(instance=instance)
    # with the source asset in the job's layer, and without it (a stub of an outside asset)
    for assets, selection in (([files_by_key, per_file], [per_file]), ([per_file], None)):
        assert dg.materialize(assets, selection=selection, instance=instance,
                              tags=_backfill_tags(files),
                              resources={"io_manager": ParquetIOManager(base_dir=store)}).success
        provs = load_provenance("per_file", storage=store)
        assert {f: (p["inputs"]["files_by_key"]["data_version"],
                    p["inputs"]["files_by_key"]["partition"]) for f, p in provs.items()} == {
            "a": ("sha-a", "a"), "b": ("sha-b", "b")}
