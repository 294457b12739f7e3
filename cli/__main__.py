"""``python -m cli``: the ``fairalloc`` command line."""

import sys

from cli import main

sys.exit(main())
