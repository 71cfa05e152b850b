"""``python -m numerics`` is the ``sgdnoise`` command."""

from numerics.run.cli import main

raise SystemExit(main())
