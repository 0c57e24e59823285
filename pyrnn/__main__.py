"""``python -m pyrnn``: the same as the ``pyrnn`` console script."""

from .cli import main

raise SystemExit(main())
