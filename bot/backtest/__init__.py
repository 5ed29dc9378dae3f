"""Backtesting: how a runbook's triggers, gate checks and acceptance criteria would have behaved on
the last weeks of real metric history, judged by the same evaluator and alert rules the watcher uses.

history.py reads the history (one call per metric per chunk), timeline.py judges every poll at once,
lifecycle.py plays the verdicts through the watcher's own alert transitions, stats.py, suggest.py and
verdicts.py turn that into numbers and sentences, report.py and charts.py into Markdown and PNGs.
"""
