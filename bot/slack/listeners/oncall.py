"""On-call's parts of the chat: **I have it** on the 5 PM report, and `/ion delegate`.

Both reach the engine only through its use cases (bot/engine/handover.py, delegation.py); a
refusal is the use case's sentence, said to the person alone.
"""

from __future__ import annotations

from datetime import date

from bot.engine.delegation import describe
from bot.engine.errors import Refused
from bot.engine.ports import Actor
from bot.slack.command_types import PersonRef
from bot.slack.listeners import AppState


async def accept_handover(state: AppState, channel: str, run_id: str, actor: Actor) -> None:
    """The I have it button: the run of the report it was pressed on, accepted once."""
    handover = state.handover
    run = await state.deps.rollout.require_run(channel)
    if handover is None:
        raise Refused("This bot has no overnight handover configured; nothing was recorded.")
    if run_id and run_id != run.id:
        raise Refused("This report belongs to an earlier run of this channel; nothing was recorded.")
    said = await handover.accept(run, actor)
    await state.poster.say(channel, actor.user_id, said, dry_run=state.dry_run)


async def delegate(state: AppState, channel: str, role: str, named: PersonRef, until: date, actor: Actor) -> None:
    """``/ion delegate ROLE @person until DATE``: the person found (a typed name looked up), then the
    use case checks, stores and audits it."""
    delegations = state.directory.delegations
    if delegations is None:
        raise Refused("Delegation is not set up in this bot; nothing was delegated.")
    person = await state.directory.actor(await state.directory.user_id(named))
    given = await delegations.delegate(actor, role, person.user_id, person.name, until)
    active = describe(await delegations.delegates(given.role))
    text = f"{given.name} holds {given.role} until {given.until:%a %d %b}. Now: " + "; ".join(active) + "."
    await state.poster.say(channel, actor.user_id, text, dry_run=state.dry_run)


async def delegated(state: AppState) -> tuple[str, ...]:
    """App Home's lines of the delegations in force now."""
    delegations = state.directory.delegations
    return tuple(describe(await delegations.active())) if delegations is not None else ()
