"""Plays the week script through the console session: the console, with a script instead of a person.

Every act becomes console lines (``/ion ...``, ``click``, ``tick``, ``type``, ``as``) sent to the
same Session ``ionbot console`` uses, so the Bolt listeners, the engine and the sim world run
exactly as they do for a person. Long executions are waited out by moving the virtual clock
to the next sleeper's deadline.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.backtest.output import latest_summary
from bot.bootstrap_console import ConsoleSession
from bot.console.input_lines import parse_console_line
from bot.console.session import Output
from bot.engine import manual
from bot.engine.ports import Event
from bot.engine.records import StepState, TargetStatus
from bot.runbook.models import Environment, Gate, Runbook, Step
from bot.sim.history import HistoryMetrics
from bot.simulate import backtest_story
from bot.simulate.measure import measured
from bot.simulate.script import (
    SIM_TEAM,
    Act,
    At,
    Backtest,
    PlayGate,
    PlayStep,
    Start,
    approvers,
    member,
    production_requester,
)
from bot.simulate.transcript import Transcript
from bot.slack.blocks.modals import confirmation_word

WAITING = (StepState.RUNNING, StepState.WAITING, StepState.VERIFYING, StepState.ROLLING_BACK)
SOAK_MARGIN = 10  # minutes past a fault's end: time for the alert, the auto-rollback and its report
SOAK_STEP_MINUTES = 5  # how often on-call looks at the channel while a fault plays out
MAX_WAITS = 200  # deadlines to move through while one execution finishes (a long step has a dozen)
Show = Callable[[str, str, list[Output]], None]


@dataclass
class Played:
    """What the runner noticed while playing: service snapshots taken before production steps, and
    again as each rollback of that step finished (later steps may change the same service)."""

    before_production: dict[str, object] = field(default_factory=dict)
    after_rollback: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def production_of(runbook: Runbook) -> Environment | None:
    """The runbook's production environment, whose services the runner snapshots and checks."""
    return next((e for e in runbook.environments if e.production), None)


class WeekRunner:
    def __init__(self, session: ConsoleSession, transcript: Transcript, show: Show | None = None) -> None:
        self.session = session
        self.transcript = transcript
        self.show = show
        self.played = Played()
        self.paused_at: str | None = None  # the gate decided NO, after which nothing is played
        session.bot.events.subscribe(self._note_rollback)

    async def say(self, line: str) -> list[Output]:
        prompt = f"{self.session.user.name}> "
        reply = await self.session.send(parse_console_line(line))
        self.transcript.said(prompt, line, reply.outputs)
        if self.show is not None:
            self.show(prompt, line, reply.outputs)
        return reply.outputs

    async def as_(self, name: str) -> None:
        if self.session.user.name != name:
            await self.say(f"as {name}")

    async def play(self, acts: list[Act], run_start: datetime) -> None:
        for act in acts:
            if isinstance(act, Start):
                await self.as_("lee")
                await self.say(f"/ion start {self.session.bot.runbook.id} {run_start.date().isoformat()}")
            elif isinstance(act, At):
                target = datetime.combine(await self.session.day_date(act.day), act.at, self.session.zone)
                if target > self.session.bot.clock.now():
                    await self.say(f"advance to day{act.day} {act.at:%H:%M}")
            elif self.paused_at is not None:
                continue  # a gate said NO: the team stops; the clock (reports, digests) goes on
            elif isinstance(act, Backtest):
                await self.as_((member(backtest_story.RUNNER) or SIM_TEAM[0]).name)
                await self.say(f"/ion backtest {backtest_story.WEEKS}")
            elif isinstance(act, PlayGate):
                gate = self.session.bot.runbook.gate(act.gate_id)
                if gate is not None:
                    await self.gate(gate)
            elif isinstance(act, PlayStep):
                step = self.session.bot.runbook.step(act.step_id)
                if step is not None:
                    await self.step(step)

    # --- gates ----------------------------------------------------------------------------------

    async def gate(self, gate: Gate) -> None:
        await self.as_("lee")
        await self.say(f"/ion gonogo {gate.id}")
        await self.answer_red_lines(gate)
        failing = await self.failing_checks(gate)
        card = self.session.feed.newest_with_checkboxes()
        if card is not None and not failing:  # nobody ticks "No production incidents" under a red check
            unticked = [str(b.number) for b in card.elements.checkboxes if not b.checked]
            if unticked:
                await self.say("tick " + " ".join(unticked))
        for role in gate.signoffs:
            person = member(role)
            if person is not None:
                await self.as_(person.name)
                await self.say(f"click Sign off as {role}")
        decider = member("lead")
        if decider is not None:
            await self.as_(decider.name)
        if not failing:
            await self.say(f"click {gate.yes_label}")
            return
        # A red gate is not waved through: the lead decides NO with what the card counted, and the
        # run pauses as the runbook says ("GO to Phase 2 or PAUSE"); nothing after it is played.
        await self.say(f"click {gate.no_label}")
        await self.say("type Red at the decision point: " + "; ".join(failing))
        self.paused_at = gate.id

    async def answer_red_lines(self, gate: Gate) -> None:
        """The backtest check is red with lines the team knows the causes of: the lead overrides that
        one check, saying what each line is (an unexplained line is left red)."""
        bot = self.session.bot
        found = backtest_story.backtest_check(gate)
        if found is None:
            return
        view = await bot.rollout.gate_view(self.session.channel, gate.id)
        result = next((h for h in view.record.health if h.label == found[1].label), None)
        summary = await latest_summary(bot.store, bot.runbook.id)
        if result is None or result.passed is not False or result.override_reason or not summary:
            return  # passing, already answered, or never backtested: nothing an override should say
        known = bot.metrics.known_faults if isinstance(bot.metrics, HistoryMetrics) else []
        reason = backtest_story.answer(summary, known, self.session.zone)
        if reason is not None:
            await self.as_("lee")
            await self.say(f"/ion override {gate.id} {found[0]} {reason}")

    async def failing_checks(self, gate: Gate) -> list[str]:
        view = await self.session.bot.rollout.gate_view(self.session.channel, gate.id)
        return [h.label for h in view.record.health if h.passed is False and not h.override_reason]

    # --- steps ----------------------------------------------------------------------------------

    async def step(self, step: Step) -> None:
        await self.as_("lee")
        await self.say(f"/ion step {step.id}")
        await self.tick_due(step)
        for env in step.environments:
            await self.lane(step, env)
        await self.tick_due(step)

    async def lane_state(self, step: Step, env: str) -> StepState:
        run = await self.session.bot.store.open_run(self.session.channel)
        if run is None:
            return StepState.PENDING
        lane = await self.session.bot.store.get_lane(run.id, step.id, env)
        return lane.state if lane else StepState.PENDING

    async def lane(self, step: Step, env: str) -> None:
        production = self.session.bot.rollout.is_production(env)
        if production:
            requester = production_requester(step)
            await self._snapshot(step)
        else:
            requester = member("member") or SIM_TEAM[1]
        for voter in approvers(step, env, requester, production):
            await self.as_(voter.name)
            await self.say(f"/ion approve {step.id} {env}")
        await self.as_(requester.name)
        await self.say(f"/ion run {step.id} {env}")
        await self.say(f"type {confirmation_word(step)}")
        await self.wait_for(step, env)
        if production:
            await self.soak(step)
        else:
            await self.tick_due(step)  # its own lists: "Monitor results" lets production run

    async def soak(self, step: Step) -> None:
        """A fault is written against this step: watch production until it has played out, and
        answer an alert as on-call would."""
        sim = self.session.bot.sim
        if sim is None:
            return
        spans = [sim.faults.window(f) for f in sim.faults.faults if f.after_step == step.id]
        ends = [span[1] for span in spans if span is not None]
        if not ends:
            return
        until = max(ends) + timedelta(minutes=SOAK_MARGIN)
        seen = len(self.session.events)
        answered = False
        while (left := math.ceil((until - self.session.bot.clock.now()).total_seconds() / 60)) > 0:
            await self.say(f"advance {min(left, SOAK_STEP_MINUTES)}m")
            if not answered:
                answered = await self.answer_alert(step, self.session.events[seen:])

    async def answer_alert(self, step: Step, events: list[Event]) -> bool:
        """On-call's part: a rollback trigger fired and the bot will not roll back by itself (only
        the error-rate trigger does), so on-call rolls the step back with the one command, as the
        runbook says ("Trigger rollback if ..."). True once it did."""
        bot = self.session.bot
        opened = [e for e in events if e.kind == "alert_opened" and not e.data.get("auto_rollback_at")]
        production = next((env for env in step.environments if bot.rollout.is_production(env)), None)
        oncall = member("sre_oncall")
        if not opened or production is None or oncall is None:
            return False
        if await self.lane_state(step, production) is not StepState.DONE:
            return False  # rolled back already, or never done
        await self.as_(oncall.name)
        await self.say(f"/ion rollback {step.id}")
        await self.say(f"type {confirmation_word(step)}")
        await self.wait_for(step, production)
        return True

    async def wait_for(self, step: Step, env: str) -> None:
        """Move time to each next deadline until the lane stops running (ticking what it waits for)."""
        clock = self.session.clock
        if clock is None:
            return
        for _ in range(MAX_WAITS):
            state = await self.lane_state(step, env)
            if state not in WAITING:
                return
            if state is StepState.WAITING:
                if not await self.press_done(step, env):
                    return
                continue
            deadline = clock.next_deadline()
            if deadline is None:
                if state is StepState.VERIFYING:
                    due = await self.tick_due(step)
                    if due is not None and due > clock.now():  # a list due later: wait for it
                        minutes = max(1, math.ceil((due - clock.now()).total_seconds() / 60))
                        await self.say(f"advance {minutes}m")
                        continue
                return
            minutes = max(1, math.ceil((deadline - clock.now()).total_seconds() / 60))
            await self.say(f"advance {minutes}m")
        self.played.problems.append(f"{step.id} on {env} was still running after {MAX_WAITS} waits")

    async def press_done(self, step: Step, env: str) -> bool:
        """The person a waiting lane names measures what it asks and presses Done; False when nobody can."""
        bot = self.session.bot
        run = await bot.store.open_run(self.session.channel)
        lane = await bot.store.get_lane(run.id, step.id, env) if run else None
        execution_id = lane.last_execution_id if lane else None
        records = await bot.store.targets(execution_id) if execution_id else []
        waiting = [r for r in records if r.status is TargetStatus.SNAPSHOTTED and not r.mutating]
        item = next((i for i in manual.items(step) if waiting and i.index == waiting[0].action_index), None)
        if item is None:
            self.played.problems.append(f"{step.id} on {env} waits, but not at a manual action the team can see")
            return False
        value = await measured(bot.metrics, bot.runbook, step, item.spec, env, bot.clock.now())
        if value is None:
            self.played.problems.append(f"{step.id} on {env}: nobody can measure what '{item.title}' asks for")
            return False
        person = member(item.spec.by) if item.spec.by else None
        requester = next((m for m in SIM_TEAM if lane is not None and m.user_id == lane.requested_by), None)
        await self.as_((person or requester or SIM_TEAM[0]).name)
        await self.say(f"/ion done {step.id} {item.ref} {value}".rstrip())
        return True

    async def tick_due(self, step: Step) -> datetime | None:
        """Tick every item whose list is due now; returns when the next list not yet due will be."""
        bot = self.session.bot
        run = await bot.store.open_run(self.session.channel)
        if run is None or not step.checklist_items():
            return None
        ticked = {t.item_id for t in await bot.store.ticks(run.id, step.id)}
        later: list[datetime] = []
        for group in step.checklist_groups():
            when = await bot.rollout.checklist_due(run, step, group)
            missing = [item for item in group.items if item.id not in ticked]
            if not missing:
                continue
            if not when.is_due(bot.clock.now()):
                if when.at is not None:
                    later.append(when.at)
                continue
            await self.as_("lee")
            for item in missing:
                await self.say(f"/ion tick {step.id} {item.id}")
        return min(later) if later else None

    async def _note_rollback(self, event: Event) -> None:
        """As a rollback of a step finishes, what its services look like: it must equal the snapshot
        from before the step, whatever later steps do to the same service."""
        bot = self.session.bot
        if event.kind != "rollback_finished" or not event.data.get("ok", True) or bot.sim is None:
            return
        execution = await bot.store.get_execution(str(event.data.get("execution_id", "")))
        if execution is None or not bot.rollout.is_production(execution.environment):
            return  # a staging rollback leaves production as it is
        sim = bot.sim
        production = production_of(bot.runbook)
        for key in self.played.before_production:
            step_id, service, region = key.split(":")
            if step_id == event.step_id and production is not None:
                self.played.after_rollback[key] = sim.world.get_service(production.project, region, service)

    async def _snapshot(self, step: Step) -> None:
        """The production config of every service the step touches, before it runs (checked later)."""
        sim = self.session.bot.sim
        if sim is None:
            return
        production = production_of(self.session.bot.runbook)
        for action in step.actions:
            service = getattr(action, "service", None)
            regions = getattr(action, "regions", None)
            if regions == "all":
                regions = next((s.regions for s in self.session.bot.runbook.services if s.name == service), [])
            if production is None or not isinstance(service, str) or not isinstance(regions, list):
                continue
            for region in regions:
                key = f"{step.id}:{service}:{region}"
                self.played.before_production.setdefault(
                    key, sim.world.get_service(production.project, region, service)
                )
