"""Suite-wide settings: the tests never read the developer's environment for the bot's knobs."""

from __future__ import annotations

import os
import tempfile

for _name in ("ION_DATABASE_URL", "ION_CLOUD", "ION_DRY_RUN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
    os.environ.pop(_name, None)
os.environ.setdefault("MPLBACKEND", "Agg")
# `ionbot serve` records the SQLite stores it ran on in the user's state folder (bot/store/embedded.py):
# the tests' stores are recorded in a folder of their own, never in the developer's.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="ionbot-test-state-")

# Property tests check what a function says, never how fast: no per-example deadline, which a
# loaded 2-core CI machine would otherwise trip at random.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ion", deadline=None)
_hypothesis_settings.load_profile("ion")
