"""Engine events become Slack messages: cards re-drawn in place, progress in the step's thread,
alerts with their buttons and an on-call mention.

The card and progress messages are found again through the KeyValueStore, so after a restart
the bot keeps updating the same messages instead of posting new ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.engine.nudges import DEADLINE_EVENTS
from bot.engine.ports import Event
from bot.engine.records import Run
from bot.slack.blocks import progress_message
from bot.slack.blocks.views import CardMeta, ProgressEntry, ProgressView
from bot.slack.delivery.cards import card_key, text_message
from bot.slack.listeners import AppState

ALERT_EVENTS = frozenset({"alert_opened", "no_data"})
CARD_EVENTS = frozenset({"step_changed", "execution_finished", "rollback_finished"})
PROGRESS_EVENTS = frozenset({"execution_progress", "execution_finished", "rollback_finished"})


class SlackNotifier:
    """Subscribed to the engine's events (``SlackDeps.events``) by build_app."""

    def __init__(self, state: AppState) -> None:
        self._state = state
        self._rolled_back: set[tuple[str, str | None, str]] = set()  # (run, step, text) the rollback itself said

    async def __call__(self, event: Event) -> None:
        state = self._state
        run = await state.deps.rollout.run_by_id(event.run_id)
        if run is None:
            return
        if event.kind in DEADLINE_EVENTS:  # said with mentions and DMs by bot/bootstrap_oncall.py
            return
        if event.kind in ALERT_EVENTS:
            await self._alert(event, run)
            return
        if event.kind == "alert_resolved":
            await self._alert_resolved(event, run)
            return
        if event.kind == "gate_changed":
            gate_id = str(event.data.get("gate", ""))
            if gate_id:
                await state.refresh_card(run, gate_id)
            await self._line(event, run, None)
            return
        if self._said_already(event):
            return
        if event.step_id and event.kind in PROGRESS_EVENTS and event.data.get("execution_id"):
            await self._progress(event, run)
        if event.step_id and event.kind in CARD_EVENTS:
            await state.refresh_card(run, event.step_id)
        if event.kind == "execution_progress":
            return
        thread = await self._card_thread(run, event.step_id)
        await self._line(event, run, thread)

    def _said_already(self, event: Event) -> bool:
        """The watcher repeats an automatic rollback's result, which the rollback itself has just posted."""
        if event.kind != "rollback_finished":
            return False
        key = (event.run_id, event.step_id, event.text)
        if event.data.get("auto"):
            return key in self._rolled_back
        self._rolled_back.add(key)
        return False

    async def _card_thread(self, run: Run, step_id: str | None) -> str | None:
        if step_id is None:
            return None
        where = await self._state.poster.where(card_key("step", run.id, step_id))
        return where[1] if where else None

    async def _line(self, event: Event, run: Run, thread: str | None) -> None:
        broadcast = event.kind in ("execution_finished", "rollback_finished", "auto_rollback_pending")
        await self._state.poster.post(
            run.channel, text_message(event.text), dry_run=run.dry_run, thread_ts=thread, broadcast=broadcast
        )

    async def _progress(self, event: Event, run: Run) -> None:
        """One progress message per execution in the card's thread, updated with each line."""
        state = self._state
        assert event.step_id is not None
        execution = str(event.data.get("execution_id") or "latest")
        key = card_key("progress", run.id, f"{event.step_id}.{execution}")
        stored = await state.deps.cards.get_value(key + ".entries")
        entries: list[dict[str, Any]] = list(stored) if isinstance(stored, list) else []
        finished = event.kind in ("execution_finished", "rollback_finished")
        ok = event.data.get("ok", True) if finished else None
        entries.append({"at": state.deps.clock.now().isoformat(), "text": event.text, "ok": ok})
        await state.deps.cards.put_value(key + ".entries", entries)
        found = await state.deps.rollout.execution(execution) if execution != "latest" else None
        message = progress_message(
            ProgressView(
                meta=CardMeta(run.id, 0, state.dry_run or run.dry_run, state.deps.runbook.calendar.timezone),
                step_id=event.step_id,
                environment=found.environment if found else "",
                kind="rollback" if event.kind == "rollback_finished" or "Rollback" in event.text else "apply",
                entries=tuple(_entry(e) for e in entries),
                finished=("succeeded" if ok else "failed") if finished else None,
            )
        )
        where = await state.poster.where(key)
        if where is not None:
            await state.poster.update(where[0], where[1], message, dry_run=run.dry_run)
            return
        thread = await self._card_thread(run, event.step_id)
        await state.poster.post(run.channel, message, dry_run=run.dry_run, thread_ts=thread, track=key)

    async def _alert(self, event: Event, run: Run) -> None:
        state = self._state
        alert_id = str(event.data.get("alert_id", ""))
        alert = await state.deps.alerts.get_alert(alert_id)
        if alert is None:
            await self._line(event, run, None)
            return
        message = await state.render.alert(alert, run)
        await state.poster.post(
            run.channel,
            message,
            dry_run=run.dry_run,
            track=card_key("alert", run.id, alert_id),
            key=f"alert.{alert_id}",
        )

    async def _alert_resolved(self, event: Event, run: Run) -> None:
        state = self._state
        alert_id = str(event.data.get("alert_id", ""))
        alert = await state.deps.alerts.get_alert(alert_id)
        where = await state.poster.where(card_key("alert", run.id, alert_id))
        if alert is not None and where is not None:
            await state.poster.update(where[0], where[1], await state.render.alert(alert, run), dry_run=run.dry_run)
        await self._line(event, run, where[1] if where else None)


def _entry(data: dict[str, Any]) -> ProgressEntry:
    ok = data.get("ok")
    return ProgressEntry(
        datetime.fromisoformat(str(data["at"])), str(data.get("text", "")), ok if isinstance(ok, bool) else None
    )
