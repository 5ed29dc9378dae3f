"""Who may do what: roles map to Slack users or user groups; capabilities map to roles.

The policy resolves an Actor's roles once (``policy.actor``); the engine then asks only
``policy.check(actor, capability)`` and shows its sentence when the answer is no.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.engine.ports import Actor

CAPABILITIES: tuple[str, ...] = (
    "tick",
    "approve",
    "run_staging",
    "run_production",
    "rollback",
    "decide_gate",
    "waive",
    "pause",
    "incident",
)

DEFAULT_CAPABILITIES: dict[str, frozenset[str]] = {
    "tick": frozenset({"manager", "lead", "sre_oncall", "member"}),
    "approve": frozenset({"manager", "lead", "sre_oncall"}),
    "run_staging": frozenset({"lead", "sre_oncall", "member"}),
    "run_production": frozenset({"lead", "sre_oncall"}),
    "rollback": frozenset({"lead", "sre_oncall", "bot"}),
    "decide_gate": frozenset({"manager", "lead"}),
    "waive": frozenset({"lead"}),
    "pause": frozenset({"manager", "lead", "sre_oncall", "bot"}),
    "incident": frozenset({"manager", "lead", "sre_oncall", "member"}),
}

_DOING = {
    "tick": "tick checklist items",
    "approve": "approve or reject steps",
    "run_staging": "run steps in staging",
    "run_production": "run steps in production",
    "rollback": "roll back steps",
    "decide_gate": "decide a Go/No-Go",
    "waive": "waive checklist items",
    "pause": "hold, pause or resume the run",
    "incident": "declare incidents",
}


@dataclass(frozen=True)
class Policy:
    """``members``: role -> Slack user ids and user-group ids; ``capabilities``: capability -> roles."""

    members: Mapping[str, frozenset[str]]
    capabilities: Mapping[str, frozenset[str]]

    @classmethod
    def build(
        cls,
        members: Mapping[str, Iterable[str]],
        capabilities: Mapping[str, Iterable[str]] | None = None,
    ) -> Policy:
        caps = dict(DEFAULT_CAPABILITIES)
        for name, roles in (capabilities or {}).items():
            if name not in CAPABILITIES:
                raise ValueError(f"unknown capability {name!r}; known: {', '.join(CAPABILITIES)}")
            caps[name] = frozenset(roles)
        return cls(members={role: frozenset(ids) for role, ids in members.items()}, capabilities=caps)

    def actor(self, user_id: str, name: str, groups: Iterable[str] = ()) -> Actor:
        """The Actor for a Slack user, with every role whose members include the user or a group."""
        ids = {user_id, *groups}
        roles = frozenset(role for role, members in self.members.items() if ids & members)
        return Actor(user_id=user_id, name=name, roles=roles)

    def allows(self, actor: Actor, capability: str) -> bool:
        return bool(actor.roles & self.capabilities.get(capability, frozenset()))

    def check(self, actor: Actor, capability: str) -> str | None:
        """None when allowed; otherwise the sentence to show."""
        if self.allows(actor, capability):
            return None
        allowed = sorted(self.capabilities.get(capability, frozenset()) - {"bot"})
        mine = ", ".join(sorted(actor.roles)) or "no role"
        who = " or ".join(allowed) if allowed else "nobody"
        return (
            f"{actor.name} may not {_DOING.get(capability, capability)}: that needs the role {who}, "
            f"and {actor.name} has {mine}. Nothing was changed; ask someone with that role."
        )


@dataclass(frozen=True)
class TeamMember:
    user_id: str
    name: str
    role: str


DEMO_TEAM: tuple[TeamMember, ...] = (
    TeamMember("U_MANAGER", "maria", "manager"),
    TeamMember("U_LEAD", "lee", "lead"),
    TeamMember("U_SRE", "sam", "sre_oncall"),
    TeamMember("U_DEV", "dana", "member"),
)


def demo_policy() -> Policy:
    """The embedded default: one person per role (also used by the console)."""
    return Policy.build({m.role: [m.user_id] for m in DEMO_TEAM})


def demo_actor(name: str) -> Actor:
    """The demo team member called ``name`` (maria, lee, sam, dana) as an Actor."""
    member = next((m for m in DEMO_TEAM if m.name == name), None)
    if member is None:
        raise ValueError(f"no demo team member {name!r}; the team is {', '.join(m.name for m in DEMO_TEAM)}")
    return demo_policy().actor(member.user_id, member.name)
