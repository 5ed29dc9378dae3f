"""Suite-wide settings: the tests never read the developer's environment for the bot's knobs."""

from __future__ import annotations

import os

for _name in ("ION_DATABASE_URL", "ION_CLOUD", "ION_DRY_RUN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
    os.environ.pop(_name, None)
os.environ.setdefault("MPLBACKEND", "Agg")
