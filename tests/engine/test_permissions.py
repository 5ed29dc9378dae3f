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
