"""The read-only web view of a rollout (the timeline): bot/web/mount.py puts it on an aiohttp app.

It sees only the timeline use cases (bot/engine/timeline.py) handed over by the composition
root, and a Gate that says who is looking (bot/web/access.py); never the store or the sim.
"""
