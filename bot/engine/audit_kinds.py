"""Every kind of entry the bot writes to its audit log, as one enum.

The values are the words the log has always shown (``step state``, ``gate decided``...), so a row
written before kinds existed maps to its kind one to one (migration 0010). Readers ask for kinds,
steps and environments (``audit_history``) instead of parsing the words back.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.engine.records import RunState


class AuditKind(StrEnum):
    # --- the run --------------------------------------------------------------------------
    START_RUN = "start run"
    FINISH_RUN = "finish run"  # refused only; a finished run is a RUN_STATE entry
    RUN_STATE = "run state"  # the run moved (held, paused, active, finished)
    RUN_HELD = "run held"  # refused: /ion hold
    RUN_PAUSED = "run paused"  # refused: /ion pause
    RUN_ACTIVE = "run active"  # refused: /ion resume
    INCIDENT = "incident"

    # --- a step's checklist, plan and lanes -----------------------------------------------
    TICK = "tick"
    UNTICK = "untick"
    WAIVE = "waive"
    DONE = "done"  # refused only; a manual action's Done is MANUAL_DONE
    PLAN = "plan"  # refused only
    APPROVE = "approve"
    REJECT = "reject"
    APPROVAL_WITHDRAWN = "approval withdrawn"
    REQUEST_RUN = "request run"
    CONFIRM_RUN = "confirm run"
    SKIP = "skip"
    STEP_STATE = "step state"  # a lane moved: ``before`` -> ``after``
    MANUAL_DONE = "manual done"
    MANUAL_VALUE_REFUSED = "manual value refused"

    # --- executions and rollback ----------------------------------------------------------
    ROLLBACK_PREVIEW = "rollback preview"  # refused only
    ROLLBACK = "rollback"  # refused only; the rollback itself is a STEP_STATE entry
    ROLLBACK_NO_OP = "rollback (no-op)"
    EXECUTION_STOPPED = "execution stopped"
    STOPPED_FOR_ROLLBACK = "stopped for rollback"
    LEASE_LOST = "lease lost"
    RECOVERED = "recovered"

    # --- Go/No-Go gates (``step_id`` is the gate's id) -------------------------------------
    GATE_TICK = "gate tick"  # refused only; the tick itself is a TICK entry on the gate
    GATE_UNTICK = "gate untick"  # refused only
    GATE_HEALTH = "gate health"  # refused only
    GATE_OVERRIDE = "gate override"  # refused only
    GATE_DECIDE = "gate decide"  # refused only
    GATE_REOPEN = "gate reopen"  # refused only
    GATE_SIGN_OFF = "gate sign-off"  # refused only
    GATE_CARD = "gate card"  # refused only
    GATE_HEALTH_CHECKED = "gate health checked"
    GATE_CHECK_OVERRIDDEN = "gate check overridden"
    GATE_DECIDED = "gate decided"
    GATE_REOPENED = "gate reopened"
    GATE_SIGNED_OFF = "gate signed off"

    # --- deadlines and delegation (nobody drops the ball) -------------------------------------
    REMINDED = "reminded"  # a deadline's reminder went to the people who can act
    ESCALATED = "escalated"  # a deadline passed; the next role was told
    DEADLINE_HOLD = "deadline hold"  # a deadline passed; the run was held
    DEADLINE_MISSED = "deadline missed"  # a deadline passed; the item is marked missed
    DELEGATED = "delegated"  # a role handed to someone until a date
    HANDOVER_ACCEPTED = "handover accepted"  # on-call pressed I have it on the 5 PM report
    HANDOVER_FALLBACK = "handover fallback"  # nobody accepted by the deadline; the runbook's fallback applied

    # --- facts people record ----------------------------------------------------------------
    RECORD_COST = "record cost"
    RECORD_QUALITY = "record quality"

    # --- entries whose words are their own (``AuditEntry.label``) --------------------------
    CHAT_REQUEST = "chat request"  # refused by the chat layer itself; label: "/ion start", "the button approve"
    OTHER = "other"  # words this version does not know (a row of an older or newer bot); label keeps them

    @property
    def worded(self) -> bool:
        """Whether an entry of this kind is shown by its own words (its label) rather than the kind's."""
        return self in (AuditKind.CHAT_REQUEST, AuditKind.OTHER)

    @classmethod
    def setting_run(cls, state: RunState) -> AuditKind:
        """The kind a refusal to put the run ``state`` is recorded as (hold, pause, resume)."""
        return cls(f"run {state.value}")

    @classmethod
    def read(cls, stored: str) -> AuditKind:
        """A stored kind; one this version does not know (written by a newer bot) reads as OTHER."""
        try:
            return cls(stored)
        except ValueError:
            return cls.OTHER
