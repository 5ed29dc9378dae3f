"""Configuration: the README table is the settings class, and the default runbook is found from anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, env_table, load_settings, require_for_serve, secret_values

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TABLE_HEADER = "| variable | default | what it is |"


def readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(TABLE_HEADER)
    end = text.find("\n\n", start)
    return text[start : end if end != -1 else len(text)].strip()


def test_the_readme_table_is_exactly_what_env_table_generates() -> None:
    assert readme_table() == env_table(), "regenerate the README table with bot.config.env_table()"


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory outside the checkout, with no ION_RUNBOOK set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ION_RUNBOOK", raising=False)
    return tmp_path


def test_the_default_runbook_is_found_in_the_project_from_another_directory(elsewhere: Path) -> None:
    runbook = load_settings().runbook
    assert runbook == REPO / "runbooks" / "week17.yaml"
    assert runbook.is_file()


def test_a_default_runbook_in_the_working_directory_wins(elsewhere: Path) -> None:
    (elsewhere / "runbooks").mkdir()
    (elsewhere / "runbooks" / "week17.yaml").write_text("id: local\n", encoding="utf-8")
    assert load_settings().runbook == Path("runbooks/week17.yaml")


def test_an_explicit_relative_runbook_is_read_from_the_working_directory(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (elsewhere / "mine.yaml").write_text("id: mine\n", encoding="utf-8")
    monkeypatch.setenv("ION_RUNBOOK", "mine.yaml")
    assert load_settings().runbook == Path("mine.yaml")


def test_an_explicit_relative_runbook_never_falls_back_to_the_project(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ION_RUNBOOK", "runbooks/example.yaml")  # exists in the checkout, not here
    assert load_settings().runbook == elsewhere / "runbooks" / "example.yaml"


def test_a_missing_runbook_is_named_by_its_absolute_path_in_the_error(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ION_RUNBOOK", "missing.yaml")
    assert main(["list"]) == 1
    assert f"{elsewhere / 'missing.yaml'}:1:1: no such file" in capsys.readouterr().err


def test_ionbot_list_works_from_another_directory_with_the_default_runbook(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list"]) == 0
    assert capsys.readouterr().out.startswith("week17: ")


def test_every_invalid_variable_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    monkeypatch.setenv("ION_ROLES", "{lead: U1}")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "PORT:" in message and "ION_ROLES: Value error, not valid JSON" in message


def test_serve_names_every_missing_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    monkeypatch.delenv("ION_SQL_TARGETS", raising=False)
    with pytest.raises(ConfigError) as caught:
        require_for_serve(load_settings(cloud="gcp"))
    message = str(caught.value)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ION_SQL_TARGETS", "ION_ROLES"):
        assert name in message


def test_serve_against_the_simulated_cloud_may_use_the_demo_team() -> None:
    require_for_serve(load_settings(cloud="sim", slack_bot_token="xoxb-1", slack_signing_secret="s3cr3t-value"))


def test_secret_values_are_the_slack_credentials_that_are_set() -> None:
    settings = load_settings(slack_bot_token="xoxb-1-2-3", slack_signing_secret="s3cr3t-value")
    assert secret_values(settings) == ["xoxb-1-2-3", "s3cr3t-value"]


def test_ion_log_level_loud_is_refused_with_the_levels_it_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ION_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "ION_LOG_LEVEL:" in message and "'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in message


def test_ion_log_level_in_lower_case_is_the_same_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ION_LOG_LEVEL", " debug ")
    assert load_settings().log_level == "DEBUG"
