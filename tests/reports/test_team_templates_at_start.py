"""Issue 14: `ionbot serve` checks a team's own templates among its start-up problems. Without a
team directory it checks none, so a start loads no Jinja (tests/runtime/test_first_answer_imports.py);
the packaged templates are held by tests/reports/test_templates.py."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.serve_checks import startup_problems

RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml"


async def test_a_broken_team_template_is_one_of_the_start_up_problems(tmp_path: Path) -> None:
    team = tmp_path / "templates"
    team.mkdir()
    (team / "step_card.txt.j2").write_text("{{ card.title | shout }}\n")
    settings = Settings(runbook=RUNBOOK, templates_dir=team, database_url=f"sqlite+aiosqlite:///{tmp_path}/ion.db")

    _, problems = await startup_problems(settings, new_store=False)

    assert len(problems) == 1
    assert problems[0].startswith(f"ION_TEMPLATES_DIR: {team / 'step_card.txt.j2'}:1: ")
