"""The ``fairalloc`` command line: the transforms on Parquet or CSV files.

``fairalloc sourcing | periods | assign | coverage | portions`` read their input tables, run the
transform and write the result table (index levels as columns) to ``--output`` or print it to
stdout; progress goes to stderr (``-q`` silences it). Bad input ends in one line
``fairalloc: error: …`` on stderr and exit status 1 — whatever failed underneath, the line is
the message of a :mod:`fairalloc.transforms.errors` type naming the offending keys; usage errors
exit with 2. An output path that is also an input is refused before anything is read. SIGTERM and
SIGHUP end a run the way Ctrl-C does (exit 143, 129, 130), so a temporary output file
(``.fairalloc-tmp-*`` beside the target) is removed on the way out; only a kill the process
cannot see (``kill -9``, power loss) can leave one behind.

>>> from fairalloc.cli.parser import parse_args
>>> parse_args(["portions", "--ratios", "1=3,2=1", "--total", "8"]).method
'priority'
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from fairalloc.cli.parser import parse_args

__all__ = ["main"]


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def exit_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`SystemExit` (128 + signal number),
    so ``finally`` clauses and temporary-file clean-up run; the old handlers come back after.

    Yields
    ------
    None
        Control to the block.
    """
    wanted = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    old = {sig: signal.signal(sig, _raise_exit) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """Run ``fairalloc`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    0 on success, 1 on bad input or a failed solve (one ``fairalloc: error:`` line on stderr),
    2 on usage errors (argparse's message), 130 on Ctrl-C; SIGTERM / SIGHUP exit with 143 / 129.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name.

    Returns
    -------
    int
        The exit status.
    """
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING,
                        format="fairalloc: %(message)s", stream=sys.stderr)
    from fairalloc.cli.commands import COMMANDS
    from fairalloc.cli.io import Progress, first_line
    from fairalloc.transforms.errors import FairallocError, translated

    try:
        with exit_on_signals(), translated(args.command):
            COMMANDS[args.command](args, Progress(quiet=args.quiet))
    except KeyboardInterrupt:
        print("fairalloc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (FairallocError, OSError) as exc:  # CLIError is a FairallocError
        print(f"fairalloc: error: {first_line(exc)}", file=sys.stderr)
        return 1
    return 0
