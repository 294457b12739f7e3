"""``python -m fairalloc.cli``: the ``fairalloc`` command line."""

import sys

from fairalloc.cli import main

sys.exit(main())
