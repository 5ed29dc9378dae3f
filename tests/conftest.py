"""Suite-wide settings: the tests never read the developer's environment for the bot's knobs."""

from __future__ import annotations

import os

for _name in ("ION_DATABASE_URL", "ION_CLOUD", "ION_DRY_RUN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
    os.environ.pop(_name, None)
os.environ.setdefault("MPLBACKEND", "Agg")

# Property tests check what a function says, never how fast: no per-example deadline, which a
# loaded 2-core CI machine would otherwise trip at random.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ion", deadline=None)
_hypothesis_settings.load_profile("ion")
