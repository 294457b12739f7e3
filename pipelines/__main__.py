"""``python -m pipelines``: list the materialised tables with their paths and row counts."""

from pipelines.outputs import main

raise SystemExit(main())
