"""`python -m advland` runs the command line (same as the `advland` script)."""

import sys

from advland.cli import main

sys.exit(main())
