"""`python -m orgc`."""

import sys

from orgc.cli import main

sys.exit(main())
