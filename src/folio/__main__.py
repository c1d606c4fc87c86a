"""Allow ``python -m folio``."""

from folio.cli import main

raise SystemExit(main())
