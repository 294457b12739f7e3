"""The IO manager over the real S3 protocol: ``moto_server`` on 127.0.0.1, s3fs as the client.

The server is started by the test on a free port and stopped by its process id; credentials
are fake and only in this test's environment.
"""

import os

import dagster as dg
import pandas as pd
import polars as pl
import pytest

from benchmarks.servers import start_moto, stop
from fairalloc.pipelines.io_manager import ParquetIOManager
from fairalloc.pipelines.outputs import load_output, load_provenance, stored_outputs
from fairalloc.pipelines.partitions import PARTITION_BY

pytestmark = pytest.mark.slow

BUCKET = "fairalloc-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    """An S3 endpoint with an empty bucket; fake credentials in the environment."""
    saved = {k: os.environ.get(k) for k in
             ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")
    proc, endpoint = start_moto()
    try:
        import s3fs

        s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True).mkdir(BUCKET)
        yield endpoint
    finally:
        stop(proc)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


GROUPS = dg.DynamicPartitionsDefinition(name="s3_test_groups")


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "commodity": ["cocoa", "cocoa", "soy"], "year": [2024, 2025, 2024],
        "source": ["A", "B", "A"], "volume": [1.0, 2.5, 4.0],
    }).set_index(["commodity", "year", "source"])


@dg.asset(partitions_def=GROUPS, metadata={PARTITION_BY: ["commodity", "year"]},
          backfill_policy=dg.BackfillPolicy.single_run(), code_version="s3-1")
def on_s3() -> pd.DataFrame:
    return _table()


@dg.asset
def on_s3_total(on_s3: pd.DataFrame) -> pd.DataFrame:
    return on_s3.groupby(level="commodity").sum()


def test_materialise_and_read_back_through_s3(s3_endpoint):
    base = f"s3://{BUCKET}/runs"
    options = {"endpoint_url": s3_endpoint}
    keys = ["cocoa|2024", "cocoa|2025", "soy|2024"]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(GROUPS.name, keys)
        manager = ParquetIOManager(base_dir=base, storage_options=options)
        result = dg.materialize(
            [on_s3, on_s3_total], instance=instance, selection=["on_s3"],
            resources={"io_manager": manager},
            tags={"dagster/asset_partition_range_start": keys[0],
                  "dagster/asset_partition_range_end": keys[-1]})
        assert result.success
        assert dg.materialize([on_s3, on_s3_total], instance=instance, selection=["on_s3_total"],
                              resources={"io_manager": manager}).success

    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    assert sorted(fs.find(f"{BUCKET}/runs")) == [
        f"{BUCKET}/runs/on_s3/commodity=cocoa/year=2024/part-0.parquet",
        f"{BUCKET}/runs/on_s3/commodity=cocoa/year=2025/part-0.parquet",
        f"{BUCKET}/runs/on_s3/commodity=soy/year=2024/part-0.parquet",
        f"{BUCKET}/runs/on_s3_total.parquet",
    ]
    back = load_output("on_s3", storage=base, storage_options=options)
    pd.testing.assert_frame_equal(back, _table())
    one = load_output("on_s3", "cocoa|2025", storage=base, storage_options=options)
    pd.testing.assert_frame_equal(one, _table().iloc[[1]])
    assert one.attrs["provenance"]["run_id"] == result.run_id
    assert load_provenance("on_s3", "soy|2024", storage=base,
                           storage_options=options)["code_version"] == "s3-1"
    total = load_output("on_s3_total", storage=base, storage_options=options)
    assert total["volume"].to_dict() == {"cocoa": 3.5, "soy": 4.0}
    assert {n: len(o.partitions) for n, o in
            stored_outputs(base, storage_options=options).items()} == {"on_s3": 3,
                                                                       "on_s3_total": 0}
    # the same objects, read the way the README shows, straight from the bucket
    direct = pd.read_parquet(f"{base}/on_s3", storage_options=options, partitioning=None)
    pd.testing.assert_frame_equal(direct.sort_index(), _table())
    lazy = pl.scan_parquet(f"{base}/on_s3/**/*.parquet", hive_partitioning=True,
                           storage_options={"aws_endpoint_url": s3_endpoint,
                                            "aws_allow_http": "true"})
    cocoa = lazy.filter(pl.col("commodity") == "cocoa").collect()
    assert cocoa.sort("year")["volume"].to_list() == [1.0, 2.5]
