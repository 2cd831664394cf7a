"""`python -m fuzz`: the same as the `tritondiff` command."""

import sys

from fuzz.cli import main

sys.exit(main())
