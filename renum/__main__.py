"""`python -m renum` is the `renum` command."""

import sys

from renum.cli import main

sys.exit(main())
