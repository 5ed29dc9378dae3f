"""``python -m bot`` runs the ``ionbot`` command line."""

import sys

from bot.cli import main

sys.exit(main())
