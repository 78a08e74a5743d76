"""``python -m factornas`` runs the command line."""

import sys

from factornas.cli import main

sys.exit(main())
