import pytest

from bot.engine.errors import Refused
from bot.engine.permissions import DEMO_TEAM, demo_actor, demo_policy
from tests.engine.harness import CHANNEL, POLICY, dana, make, olga, sam


class TestPolicy:
    def test_roles_come_from_user_ids_and_user_groups(self) -> None:
        assert olga.roles == frozenset({"sre_oncall"})
        assert POLICY.allows(olga, "rollback")
        assert not POLICY.allows(dana, "run_production")

    def test_a_refusal_says_which_role_is_needed(self) -> None:
        sentence = POLICY.check(dana, "run_production")
        assert sentence is not None
        assert "dana may not run steps in production" in sentence
        assert "lead or sre_oncall" in sentence

    def test_the_demo_team_has_one_person_per_role(self) -> None:
        assert {m.role for m in DEMO_TEAM} == {"manager", "lead", "sre_oncall", "member"}
        assert demo_actor("sam").roles == frozenset({"sre_oncall"})
        assert demo_policy().allows(demo_actor("lee"), "waive")


class TestRefusalsAreAudited:
    async def test_member_cannot_run_production_and_the_refusal_is_in_the_audit(self) -> None:
        h = await make()
        with pytest.raises(Refused, match="dana may not run steps in production"):
            await h.rollout.request_run(CHANNEL, "day2.1", "production", dana)
        refused = [e for e in h.store.audit_rows if e.outcome == "refused"]
        assert refused and refused[-1].actor_name == "dana" and refused[-1].what == "request run"
        assert (refused[-1].run_id, "day2.1", "production") not in h.store.lane_rows

    async def test_unknown_step_suggests_the_nearest(self) -> None:
        h = await make()
        with pytest.raises(Refused, match=r"no step day2\.7; did you mean .*day2\.1\?"):
            await h.rollout.step_view(CHANNEL, "day2.7")
        with pytest.raises(Refused, match="no step"):
            await h.rollout.request_run(CHANNEL, "day9.9", "production", sam)

    async def test_an_unknown_step_is_refused_and_audited_against_the_run(self) -> None:
        h = await make()
        with pytest.raises(Refused, match=r"no step day2\.7; did you mean .*day2\.1\?"):
            await h.rollout.tick(CHANNEL, "day2.7", "latency", sam)
        entry = h.store.audit_rows[-1]
        assert (entry.what, entry.step_id, entry.outcome) == ("tick", "day2.7", "refused")
        assert entry.run_id is not None and entry.detail is not None and entry.detail.startswith("no step day2.7")

    async def test_commands_in_a_channel_with_no_run_are_refused_and_audited_without_a_run(self) -> None:
        h = await make(start=False)
        attempts = [
            ("request run", h.rollout.request_run(CHANNEL, "day2.1", "production", sam)),
            ("gate decide", h.rollout.gate_decide(CHANNEL, "gonogo.day3", True, None, sam)),
            ("run paused", h.rollout.pause(CHANNEL, sam, "lunch")),
            ("rollback", h.rollout.confirm_rollback(CHANNEL, "last", sam)),
        ]
        for _, attempt in attempts:
            with pytest.raises(Refused, match="There is no run in this channel"):
                await attempt
        refused = [(e.what, e.run_id, e.outcome, e.actor_name) for e in h.store.audit_rows]
        assert refused == [(what, None, "refused", "sam") for what, _ in attempts]
