"""The domain core: runs, steps, checklists, approvals, execution, triggers, report data.

Nothing here imports Slack, Google, SQLAlchemy or APScheduler; it talks to the
protocols in ``ports.py``, which the adapters implement.
"""
