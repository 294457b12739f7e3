"""The service's settings and their defaults, written once (standard library only, so the
command line's ``--help`` stays fast).

>>> MAX_BODY_BYTES
50000000
"""

from __future__ import annotations

#: Where ``fairalloc serve`` listens by default: this machine only.
HOST = "127.0.0.1"
#: The default port.
PORT = 8000
#: Request bodies above this many bytes (50 MB) are refused with 413.
MAX_BODY_BYTES = 50_000_000
#: Request bodies above this many bytes (1 MB) are validated and computed in a worker process
#: rather than a thread (see :mod:`fairalloc.service.workers`).
PROCESS_BODY_BYTES = 1_000_000
#: The environment variable naming the product catalogue's database (any SQLAlchemy URL).
DATABASE_ENV = "FAIRALLOC_DATABASE_URL"
#: The SQLite file used when neither ``--database`` nor the variable names one, in the
#: directory the server starts in.
DEFAULT_DATABASE = "fairalloc.db"
