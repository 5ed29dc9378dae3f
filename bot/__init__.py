"""ION rollout bot: runs a multi-day production rollout runbook with the team, from Slack."""

__version__ = "0.1.0"
