"""``python -m fairalloc``: the ``fairalloc`` command line."""

from fairalloc.cli import main

raise SystemExit(main())
