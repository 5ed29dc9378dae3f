"""The one naming scheme for interactive elements, and the JSON each button carries.

action_id is ``ion:<verb>`` or ``ion:<verb>:<qualifier>`` (qualifiers keep ids unique inside
one block, e.g. ``ion:run:staging``). The value says which run, step, environment, plan
fingerprint and card version the person saw, so a handler can refuse a stale card.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Verb(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    RUN = "run"
    ROLLBACK = "rollback"
    TICK = "tick"
    GATE_TICK = "gate_tick"
    GATE_DECIDE = "gate_decide"
    GATE_RECHECK = "gate_recheck"
    DONE = "done"  # a manual action is done (a modal asks for its value when it wants one)
    RECORD = "record"  # a quality fact from the daily report's button (a modal asks for the verdict)
    ACK = "ack"
    HOLD = "hold"
    CONFIRM_RUN = "confirm_run"  # modal callback_id
    CONFIRM_ROLLBACK = "confirm_rollback"  # modal callback_id
    TYPED_NAME = "typed_name"  # the modal's text input


PREFIX = "ion"
ACTION_ID_PATTERN = r"^ion:[a-z_]+(:[a-z0-9_.-]+)?$"  # for app.action(re.compile(...))


def action_id(verb: Verb, qualifier: str | None = None) -> str:
    return f"{PREFIX}:{verb.value}" + (f":{qualifier}" if qualifier else "")


def parse_action_id(value: str) -> tuple[Verb, str | None] | None:
    """(verb, qualifier) of one of our action ids; None for anything else."""
    parts = value.split(":", 2)
    if len(parts) < 2 or parts[0] != PREFIX:
        return None
    try:
        verb = Verb(parts[1])
    except ValueError:
        return None
    return verb, parts[2] if len(parts) == 3 else None


@dataclass(frozen=True)
class ActionValue:
    """What a button (or checkbox option, or modal's private_metadata) was drawn for."""

    run: str
    step: str | None = None
    env: str | None = None
    fingerprint: str | None = None
    card_version: int = 0
    item: str | None = None  # checklist item (tick / gate_tick)
    decision: str | None = None  # gate_decide: "yes" | "no"
    alert: str | None = None  # ack / hold / rollback from an alert card
    channel: str | None = None  # modals: where the card lives, to update it after submit
    message_ts: str | None = None

    def encode(self) -> str:
        """Compact JSON without the empty fields (a checkbox value allows only 150 characters)."""
        data = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> ActionValue | None:
        """The value back, or None when it is not one of ours (old cards, tampering)."""
        try:
            data: Any = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("run"), str):
            return None
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if any(v is not None and not isinstance(v, str) for k, v in known.items() if k != "card_version"):
            return None  # a field of another type was never written by encode: not ours
        try:
            value = cls(**known)
        except TypeError:
            return None
        if not isinstance(value.card_version, int):
            return None
        return value
