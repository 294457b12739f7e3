"""Tables in and out of the command line: Parquet or CSV by extension, progress on stderr.

Inputs are read with polars (the transforms accept polars frames); results, pandas tables with
a (Multi)Index, are written with the index turned back into columns, atomically (a temporary
file in the same directory, then :func:`os.replace`), or printed to stdout in full.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import polars as pl

from fairalloc.transforms._files import write_atomic
from fairalloc.transforms.errors import FairallocError

#: File extension → table format.
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


class CLIError(FairallocError):
    """Bad command-line input found by the CLI itself; shown as one ``fairalloc: error:`` line."""


class Progress:
    """Brief ``fairalloc: …`` lines on stderr (silenced by ``quiet``) and the run's wall time."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.start = time.perf_counter()

    def say(self, message: str) -> None:
        """Print ``fairalloc: message`` on stderr unless quiet."""
        if not self.quiet:
            print(f"fairalloc: {message}", file=sys.stderr, flush=True)

    @property
    def seconds(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.start


def table_format(path: str | Path, what: str) -> str:
    """``"parquet"`` or ``"csv"`` from the extension of ``path``; :class:`CLIError` otherwise.

    >>> table_format("out/alloc.PQ", "output")
    'parquet'
    >>> table_format("alloc.xlsx", "output")
    Traceback (most recent call last):
    ...
    fairalloc.cli.io.CLIError: output alloc.xlsx: unknown extension '.xlsx' (use .parquet, .pq or \
.csv)
    """
    suffix = Path(path).suffix
    fmt = FORMATS.get(suffix.lower())
    if fmt is None:
        shown = repr(suffix) if suffix else "(none)"
        raise CLIError(f"{what} {path}: unknown extension {shown} (use .parquet, .pq or .csv)")
    return fmt


def check_output(path: str | Path | None, what: str = "output",
                 inputs: Iterable[str | Path | None] = ()) -> Path | None:
    """Validate an output path before any work: known extension, existing directory, and not
    one of the ``inputs`` (the same path, or another name of the same file).

    >>> check_output("in.csv", inputs=["./in.csv"])
    Traceback (most recent call last):
    ...
    fairalloc.cli.io.CLIError: output in.csv: is also an input (./in.csv); choose another output \
path
    """
    if path is None:
        return None
    table_format(path, what)
    return _writable(Path(path), what, inputs, "is also an input", "another output path")


def check_plot(path: str | Path | None, inputs: Iterable[str | Path | None] = ()) -> Path | None:
    """Validate a ``--plot`` path before any work: a ``.png`` file in an existing directory,
    not one of the ``inputs`` (nor the ``--output`` given among them).

    >>> check_plot("chart.svg")
    Traceback (most recent call last):
    ...
    fairalloc.cli.io.CLIError: plot chart.svg: the chart is written as PNG: use a .png path
    >>> check_plot("in.png", inputs=["./in.png"])
    Traceback (most recent call last):
    ...
    fairalloc.cli.io.CLIError: plot in.png: is also an input or output (./in.png); choose \
another path
    """
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise CLIError(f"plot {path}: the chart is written as PNG: use a .png path")
    return _writable(path, "plot", inputs, "is also an input or output", "another path")


def _writable(path: Path, what: str, inputs: Iterable[str | Path | None], clash: str,
              instead: str) -> Path:
    """``path`` when it can be written: not one of ``inputs`` (nor another name of one), not a
    directory, in a directory that exists."""
    for other in inputs:
        if other is not None and _same_file(path, Path(other)):
            raise CLIError(f"{what} {path}: {clash} ({other}); choose {instead}")
    if path.is_dir():
        raise CLIError(f"{what} {path}: is a directory")
    if not path.parent.is_dir():
        raise CLIError(f"{what} {path}: directory {path.parent} does not exist")
    return path


def write_plot(figure: object, path: Path | None, progress: Progress) -> None:
    """Write a chart (a matplotlib figure) to ``path`` as PNG, atomically; nothing when
    ``path`` is None."""
    if path is None:
        return
    from fairalloc.transforms.charts import png_bytes

    data = png_bytes(figure)  # type: ignore[arg-type]
    write_atomic(path, lambda tmp: tmp.write_bytes(data))
    progress.say(f"wrote chart {path} ({len(data) // 1024:,} KiB)")


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: resolved paths, or the same inode (links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (yet): different files
        return False


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message (its type name if none)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def read_table(path: str | Path, what: str, progress: Progress) -> pl.DataFrame:
    """Read a Parquet or CSV table (CSV types inferred from the whole file) as polars.

    Missing files and unreadable or malformed contents raise :class:`CLIError` naming ``what``
    and the path, in one line.
    """
    fmt = table_format(path, what)
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"{what} {path}: no such file")
    try:
        if fmt == "parquet":
            df = pl.read_parquet(path)
        else:
            df = pl.read_csv(path, infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise CLIError(f"cannot read {what} {path}: {first_line(exc)}") from None
    progress.say(f"read {path} ({df.height:,} rows)")
    return df


def require_columns(df: pl.DataFrame, columns: list[str], what: str) -> pl.DataFrame:
    """``df`` restricted to ``columns``; :class:`CLIError` naming the missing ones."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise CLIError(f"{what} lacks column(s) {', '.join(missing)} (has {', '.join(df.columns)})")
    return df.select(columns)


def flat_table(table: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """The result with its named index levels as leading columns (an unnamed index is dropped).

    >>> s = pd.Series([6, 2], index=pd.Index([1, 2], name="key"), name="portions")
    >>> flat_table(s).columns.tolist()
    ['key', 'portions']
    """
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    unnamed = all(name is None for name in frame.index.names)
    return frame.reset_index(drop=unnamed)


def write_table(table: pd.DataFrame | pd.Series, path: Path) -> int:
    """Write ``table`` (index as columns) to ``path`` atomically; returns the row count."""
    flat = pl.from_pandas(flat_table(table))
    parquet = table_format(path, "output") == "parquet"
    write_atomic(path, flat.write_parquet if parquet else flat.write_csv)
    return flat.height


def render(table: pd.DataFrame | pd.Series) -> str:
    """Every row of ``table`` as aligned text (index levels as columns), for stdout.

    >>> print(render(pd.Series([6, 2], index=pd.Index([1, 2], name="key"), name="portions")))
     key  portions
       1         6
       2         2
    """
    flat = flat_table(table)
    if flat.empty:
        return "  ".join(str(c) for c in flat.columns)
    return flat.to_string(index=False)


def emit(table: pd.DataFrame | pd.Series, path: Path | None, progress: Progress,
         what: str = "table") -> None:
    """Write ``table`` to ``path``, or print it to stdout when ``path`` is None."""
    if path is None:
        sys.stdout.write(render(table) + "\n")
        sys.stdout.flush()
        progress.say(f"printed {what} ({len(table):,} rows) in {progress.seconds:.2f} s")
    else:
        rows = write_table(table, path)
        progress.say(f"wrote {path} ({rows:,} rows) in {progress.seconds:.2f} s")
