"""Which earlier work a command waits for: only the work on the same card or lane.

Replies of one card (a step, a gate) keep their order; a command that reads (help, status,
audit) waits for nothing, and commands on different steps run side by side, as they are I/O
bound. Safety does not rest on this order: every change is claimed in the store (replicas run
side by side too); the order is what keeps one card's answers in the sequence people sent them.
"""

from __future__ import annotations

from bot.slack import command_parser as c

READING: tuple[type, ...] = (
    c.HelpCommand,
    c.StatusCommand,
    c.TodayCommand,
    c.NextCommand,
    c.AuditCommand,
    c.MetricsCommand,
    c.ScalingCommand,
)
_TARGETS = ("step_id", "target_id", "gate_id")


def command_order_key(channel: str, text: str) -> str | None:
    """The line a command joins in ``channel``: None for reads and unparsable text."""
    parsed = c.parse(text)
    if isinstance(parsed, (c.ParseError, *READING)):
        return None
    for name in _TARGETS:
        target = getattr(parsed, name, None)
        if isinstance(target, str) and target:
            return f"command:{channel}:{target}"
    return f"command:{channel}"
