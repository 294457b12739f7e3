"""The ``fairalloc`` command line: the transforms on Parquet or CSV files.

``fairalloc sourcing | periods | assign | coverage | portions`` read their input tables, run the
transform and write the result table (index levels as columns) to ``--output`` or print it to
stdout; progress goes to stderr (``-q`` silences it). Bad input ends in one line
``fairalloc: error: …`` on stderr and exit status 1; usage errors exit with 2.

>>> from cli.parser import parse_args
>>> parse_args(["portions", "--ratios", "1=3,2=1", "--total", "8"]).method
'priority'
"""

from __future__ import annotations

import logging
import os
import sys

from cli.parser import parse_args

__all__ = ["main"]


def _user_error(exc: BaseException) -> bool:
    """Bad input or an unusable file (not a bug): reported in one line, no traceback."""
    from cli.io import CLIError
    from transforms.errors import FairallocError

    if isinstance(exc, CLIError | FairallocError | OSError):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("polars", "pyarrow"))


def main(argv: list[str] | None = None) -> int:
    """Run ``fairalloc`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    0 on success, 1 on bad input (one ``fairalloc: error:`` line on stderr), 2 on usage errors
    (argparse's message). Unexpected exceptions propagate with their traceback.
    """
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING,
                        format="fairalloc: %(message)s", stream=sys.stderr)
    from cli.commands import COMMANDS
    from cli.io import Progress, first_line

    try:
        COMMANDS[args.command](args, Progress(quiet=args.quiet))
    except BrokenPipeError:  # stdout closed early (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        if not _user_error(exc):
            raise
        print(f"fairalloc: error: {first_line(exc)}", file=sys.stderr)
        return 1
    return 0
