"""The overnight handover: on-call accepts the night with one click, else the runbook's fallback.

The 5 PM report ends with **Armed tonight** and an **I have it** button (bot/reports/handover.py).
``accept`` records who has the night (once: a second click, a redelivery or another replica's click
changes nothing). ``pass_once`` runs with every trigger watch: past the runbook's ``handover.deadline``
with nobody accepted, it applies the fallback exactly once across replicas (``claim_post`` on the
night), audits it and says it in the channel; a bot that was down at the deadline does so when it
comes back, saying it is late, or, once the morning has come, that the night went without it. At
``handover.until`` the next morning a run the fallback paused is resumed. ``ShortenedHold`` is the
watcher's alert store while ``shorten_hold`` is in force.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol

from bot.engine.audit_kinds import AuditKind
from bot.engine.context import Context
from bot.engine.duties import Downtime
from bot.engine.errors import Refused
from bot.engine.nudges import HANDOVER_FALLBACK_EVENT, People, Person
from bot.engine.ports import BOT_ACTOR, JSON, Actor, AlertRecord
from bot.engine.records import Run, RunState
from bot.engine.watch import WatchStore, WatchStoreDecorator
from bot.runbook.deadlines import Handover as HandoverPlan
from bot.runbook.durations import format_duration

ACCEPT_VERB = "accept"


class HandoverStore(Protocol):
    async def get_value(self, key: str) -> JSON | None: ...

    async def put_value(self, key: str, value: JSON) -> None: ...

    async def claim_post(self, job_key: str, run_id: str, local_date: str) -> bool: ...


RunAction = Callable[[Run, str], Awaitable[None]]
Page = Callable[[Run, str, list[Person]], Awaitable[None]]


def accepted_key(run_id: str, night: date) -> str:
    return f"handover:accepted:{run_id}:{night.isoformat()}"


def hold_key(run_id: str) -> str:
    return f"handover:hold:{run_id}"


def paused_key(run_id: str) -> str:
    return f"handover:paused:{run_id}"


@dataclass(frozen=True)
class Accepted:
    user_id: str
    name: str
    at: datetime

    def to_json(self) -> dict[str, JSON]:
        return {"user_id": self.user_id, "name": self.name, "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, raw: JSON | None) -> Accepted | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(str(raw["user_id"]), str(raw["name"]), datetime.fromisoformat(str(raw["at"])))
        except (KeyError, ValueError):
            return None


class Handover:
    """The use case behind **I have it** and the deadline's fallback, for one runbook."""

    def __init__(
        self, ctx: Context, store: HandoverStore, people: People, pause: RunAction, resume: RunAction, page: Page
    ) -> None:
        self._ctx = ctx
        self._store = store
        self._people = people
        self._pause = pause
        self._resume = resume
        self._page = page

    @property
    def plan(self) -> HandoverPlan | None:
        return self._ctx.runbook.handover

    def night(self, run: Run, now: datetime) -> date | None:
        """The run day whose night ``now`` is in the evening of (after the daily report), if any."""
        calendar = self._ctx.calendar(run)
        local = now.astimezone(self._ctx.zone)
        if calendar.day_of(local.date()) is None or local.time() < self._ctx.runbook.schedule.daily_report_at:
            return None
        return local.date()

    def deadline(self, night: date) -> datetime:
        plan = self.plan or HandoverPlan()
        return datetime.combine(night, plan.deadline, self._ctx.zone)

    def morning(self, night: date) -> datetime:
        plan = self.plan or HandoverPlan()
        return datetime.combine(night + timedelta(days=1), plan.until, self._ctx.zone)

    async def accepted(self, run: Run, night: date) -> Accepted | None:
        return Accepted.from_json(await self._store.get_value(accepted_key(run.id, night)))

    async def on_call(self) -> list[Person]:
        return await self._people.members((self.plan or HandoverPlan()).role)

    async def accept(self, run: Run, actor: Actor) -> str:
        """Record that ``actor`` has tonight; the sentence to tell them. Refused (audited) for someone
        who is neither on call nor a lead, or when there is no handover to accept now."""
        plan, now = self.plan, self._ctx.clock.now()
        night = self.night(run, now) if plan is not None else None
        try:
            if plan is None or night is None:
                raise Refused("There is no overnight handover to accept now: it opens with the daily report.")
            on_call = {p.user_id for p in await self.on_call()}
            if not (actor.has(plan.role) or actor.has("lead") or actor.user_id in on_call):
                raise Refused(
                    f"{actor.name} is not on call ({plan.role}) or a lead, so cannot accept the handover; "
                    f"the person on call presses I have it. Nothing was recorded."
                )
        except Refused as refused:
            await self._ctx.auditor.record(
                actor, AuditKind.HANDOVER_ACCEPTED, run_id=run.id, outcome="refused", detail=refused.message
            )
            refused.audited = True
            raise
        before = await self.accepted(run, night)
        async with self._ctx.unit_of_work():  # the claim, the acceptance and its audit entry
            if before is None and await self._store.claim_post("handover:accept", run.id, night.isoformat()):
                before = Accepted(actor.user_id, actor.name, now)
                await self._store.put_value(accepted_key(run.id, night), before.to_json())
                late = now >= self.deadline(night)
                detail = f"{actor.name} has the night of {night:%a %d %b}" + (" (after the deadline)" if late else "")
                await self._ctx.auditor.record(actor, AuditKind.HANDOVER_ACCEPTED, run_id=run.id, detail=detail)
                await self._ctx.emit(run, "handover_accepted", f":white_check_mark: {detail}.")
                return f"Thanks: you have tonight ({night:%a %d %b}); the channel knows."
        if before is None:
            return "Someone accepted the handover at this very moment; the channel says who."
        if before.user_id == actor.user_id:
            return f"You already have tonight (accepted at {self._ctx.show_time(before.at)}); nothing changed."
        return f"{before.name} already has tonight (accepted at {self._ctx.show_time(before.at)}); nothing changed."

    async def pass_once(self, run: Run, down: Downtime | None = None) -> list[str]:
        """The fallback once past the deadline with nobody accepted; the paused run resumed in the morning.

        A night whose deadline fell while the bot was ``down`` is caught up when it comes back: the
        fallback applied late (saying so) while the night lasts, else said to have been missed."""
        done: list[str] = []
        plan, now = self.plan, self._ctx.clock.now()
        if plan is None or run.state not in (RunState.ACTIVE, RunState.HELD, RunState.PAUSED):
            return done
        await self._morning(run, now, done)
        night = self._last_night(run, now)
        if night is None:
            return done
        late = down is not None and down.covers(self.deadline(night))
        over = now >= self.morning(night)
        if over and not late:
            return done  # applied (or accepted) while the bot ran; nothing is owed for that night
        if await self.accepted(run, night) is not None:
            return done
        applies = plan.fallback == "page_secondary" and not over
        # Read before the unit: the roster may be asked over the network.
        secondary = await self._people.members(plan.secondary) if applies else []
        async with self._ctx.unit_of_work():  # the claim, the fallback, its page and audit entry, or none
            if not await self._store.claim_post("handover:fallback", run.id, night.isoformat()):
                return done
            await self._fall_back(run, plan, night, secondary, over, down if late else None)
        done.append("missed" if over else plan.fallback)
        return done

    async def _fall_back(
        self, run: Run, plan: HandoverPlan, night: date, secondary: list[Person], over: bool, down: Downtime | None
    ) -> None:
        said = self._missed(plan, night) if over else await self._apply(run, plan, night, secondary)
        if down is not None:
            said = f"{said} {down.late_note(self._ctx.show_time, 'Applied' if not over else 'Noticed')}"
        detail = said.removeprefix(":warning: ")
        await self._ctx.auditor.record(BOT_ACTOR, AuditKind.HANDOVER_FALLBACK, run_id=run.id, detail=detail)
        data: dict[str, JSON] = {
            "scope": "handover",
            "environment": None,
            "due_at": self.deadline(night).isoformat(),
            "mention": [p.user_id for p in secondary],
            "dm": [p.user_id for p in secondary],
            "fallback": plan.fallback,
        }
        await self._ctx.emit(run, HANDOVER_FALLBACK_EVENT, said, None, data)

    def _last_night(self, run: Run, now: datetime) -> date | None:
        """The latest run day whose handover deadline has passed (tonight's, last night's, Friday's
        on a Monday morning), looked for a week back at most."""
        calendar, today = self._ctx.calendar(run), now.astimezone(self._ctx.zone).date()
        for back in range(8):
            night = today - timedelta(days=back)
            if calendar.day_of(night) is not None and self.deadline(night) <= now:
                return night
        return None

    def _missed(self, plan: HandoverPlan, night: date) -> str:
        return (
            f":warning: Nobody accepted the overnight handover of {night:%a %d %b} by {plan.deadline:%H:%M}, and "
            f"its fallback ({plan.fallback}) was never applied: the night was over when the bot came back."
        )

    async def _apply(self, run: Run, plan: HandoverPlan, night: date, people: list[Person]) -> str:
        shown = f"{plan.deadline:%H:%M}"
        morning = self.morning(night)
        until = f"{morning:%a %H:%M}"
        head = f":warning: Nobody accepted the overnight handover by {shown}"
        if plan.fallback == "shorten_hold":
            value: dict[str, JSON] = {"hold_seconds": plan.hold.total_seconds(), "until": morning.isoformat()}
            await self._store.put_value(hold_key(run.id), value)
            return (
                f"{head}, so every automatic rollback now waits at most {format_duration(plan.hold)} for a Hold "
                f"(until {until})."
            )
        if plan.fallback == "page_secondary":
            names = ", ".join(p.name for p in people) or f"nobody (no one holds {plan.secondary})"
            await self._page(run, f"Nobody accepted the overnight handover of {run.channel} by {shown}.", people)
            return f"{head}, so the secondary ({plan.secondary}: {names}) is paged and has the night."
        if run.state is RunState.ACTIVE:
            await self._store.put_value(paused_key(run.id), {"until": morning.isoformat()})
            await self._pause(run, f"nobody accepted the overnight handover by {shown}")
            return f"{head}, so the run is paused until {until}: the bot starts nothing on its own overnight."
        return f"{head}; the run is already {run.state.value}, so it stays so overnight."

    async def _morning(self, run: Run, now: datetime, done: list[str]) -> None:
        raw = await self._store.get_value(paused_key(run.id))
        if not isinstance(raw, dict) or now < datetime.fromisoformat(str(raw["until"])):
            return
        local = now.astimezone(self._ctx.zone).date().isoformat()
        if not await self._store.claim_post("handover:morning", run.id, local):
            return
        await self._store.put_value(paused_key(run.id), None)
        if run.state is RunState.PAUSED:
            await self._resume(run, "the handover's night is over")
            done.append("resumed")

    async def hold_window(self, run_id: str, now: datetime) -> timedelta | None:
        """The shortened countdown in force now (``shorten_hold``), if any."""
        raw = await self._store.get_value(hold_key(run_id))
        if not isinstance(raw, dict):
            return None
        try:
            until = datetime.fromisoformat(str(raw["until"]))
            hold = timedelta(seconds=float(str(raw["hold_seconds"])))
        except (KeyError, ValueError):
            return None
        return hold if now < until else None


class ShortenedHold(WatchStoreDecorator):
    """The watcher's alert store, cutting an automatic rollback's countdown while ``shorten_hold`` is
    in force: every alert opened or saved then waits at most the shortened hold from its opening."""

    def __init__(self, inner: WatchStore, handover: Handover, clock_now: Callable[[], datetime]) -> None:
        super().__init__(inner)
        self._handover = handover
        self._now = clock_now

    async def _cut(self, alert: AlertRecord) -> AlertRecord:
        if alert.auto_rollback_at is None or alert.state != "open":
            return alert
        hold = await self._handover.hold_window(alert.run_id, self._now())
        if hold is None:
            return alert
        sooner = max(alert.opened_at + hold, self._now())
        return replace(alert, auto_rollback_at=sooner) if sooner < alert.auto_rollback_at else alert

    async def save_alert(self, alert: AlertRecord) -> None:
        await self._inner.save_alert(await self._cut(alert))

    async def open_alert(self, alert: AlertRecord) -> AlertRecord | None:
        return await self._inner.open_alert(await self._cut(alert))

    async def update_alert(self, alert: AlertRecord) -> AlertRecord | None:
        return await self._inner.update_alert(await self._cut(alert))
