"""Atomic file output, shared by the pipeline's IO manager and the command line."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

#: Every temporary file fairalloc writes starts with this, beside its target: what a run killed
#: beyond catching (``kill -9``, power loss) can leave behind is found with
#: ``find DIR -name '.fairalloc-tmp-*'`` and is safe to delete.
TMP_PREFIX = ".fairalloc-tmp-"


def temporary_name(path: Path) -> Path:
    """The temporary file for ``path``: same folder, :data:`TMP_PREFIX`, process id, random part.

    >>> temporary_name(Path("out/a.parquet")).name.startswith(".fairalloc-tmp-a.parquet.")
    True
    """
    return path.parent / f"{TMP_PREFIX}{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}"


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, rename it over ``path``.

    Readers never see half a file; on any failure the temporary file is removed and ``path`` is
    left as it was. The temporary file sits in the same directory (same file system, so the
    rename is atomic), is named by :func:`temporary_name` and gets the process's normal
    permissions. It is removed on every exit Python sees (an exception, ``KeyboardInterrupt``,
    ``SystemExit`` — the command line turns SIGTERM and SIGHUP into the latter).

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> write_atomic(target, lambda tmp: tmp.write_text("done"))
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('done', ['out.txt'])
    """
    tmp = temporary_name(path)
    try:
        write(tmp)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
