"""Every knob is an environment variable with a default; the embedded default needs none.

The README's configuration table is ``env_table()`` of this class, and a test holds the two
equal, so they cannot drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The checkout (or install prefix) holding runbooks/; the default runbook is found here from any directory.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNBOOK = Path("runbooks") / "week17.yaml"

JsonMap = Annotated[dict[str, list[str]], NoDecode]
JsonStrMap = Annotated[dict[str, str], NoDecode]
CommaList = Annotated[list[str], NoDecode]


class ConfigError(Exception):
    """Configuration that cannot work; the message lists every problem at once."""


class Settings(BaseSettings):
    """Deployment configuration. Secrets only ever come from here, never from the repo."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        "sqlite+aiosqlite:///./ion.db",
        alias="ION_DATABASE_URL",
        description="State store. SQLite file by default; postgresql+asyncpg://... in production.",
    )
    runbook: Path = Field(DEFAULT_RUNBOOK, alias="ION_RUNBOOK", description="The runbook this bot runs.")
    cloud: Literal["sim", "gcp"] = Field(
        "sim", alias="ION_CLOUD", description="sim: the in-memory world; gcp: real Cloud Run/SQL/Monitoring."
    )
    dry_run: bool = Field(False, alias="ION_DRY_RUN", description="Plan and record everything, mutate nothing.")
    channel: str = Field("C_ION_ROLLOUT", alias="ION_CHANNEL", description="Default channel of the console.")
    roles: JsonMap = Field(
        default_factory=dict,
        alias="ION_ROLES",
        description='JSON role -> Slack user or user-group ids, e.g. {"lead": ["U123"], "sre_oncall": ["S456"]}.'
        " Empty: the demo team.",
    )
    permissions: JsonMap = Field(
        default_factory=dict,
        alias="ION_PERMISSIONS",
        description='JSON capability -> roles overriding the defaults, e.g. {"rollback": ["sre_oncall", "lead"]}.',
    )
    oncall_group: str | None = Field(
        None, alias="ION_ONCALL_GROUP", description="Slack user-group id mentioned by alerts (S...)."
    )
    sql_targets: JsonStrMap = Field(
        default_factory=dict,
        alias="ION_SQL_TARGETS",
        description='JSON database name -> SQLAlchemy URL for sql.* actions, e.g. {"ion-primary-db": "postgresql+asyncpg://..."}.',
    )
    templates_dir: Path | None = Field(
        None, alias="ION_TEMPLATES_DIR", description="A team's own report templates (falls back per file)."
    )
    slack_bot_token: str | None = Field(None, alias="SLACK_BOT_TOKEN", description="xoxb-... (serve).")
    slack_signing_secret: str | None = Field(
        None, alias="SLACK_SIGNING_SECRET", description="Verifies Slack's requests (serve, HTTP mode)."
    )
    slack_app_token: str | None = Field(
        None, alias="SLACK_APP_TOKEN", description="xapp-...: set it to use Socket Mode instead of HTTP."
    )
    slack_api_url: str | None = Field(
        None, alias="SLACK_API_URL", description="Override of the Web API base URL (local fakes, tests)."
    )
    host: str = Field("0.0.0.0", alias="ION_HOST", description="Address `ionbot serve` binds.")
    port: int = Field(3000, alias="PORT", description="Port `ionbot serve` listens on (Cloud Run sets it).")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", alias="ION_LOG_FORMAT", description="auto: JSON when not on a terminal."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", alias="ION_LOG_LEVEL", description="DEBUG, INFO, WARNING, ERROR."
    )
    access_log: bool = Field(
        False,
        alias="ION_ACCESS_LOG",
        description="A log line per HTTP request (Cloud Run's request log has them already; a third of an ack's time).",
    )
    smtp_host: str | None = Field(
        None, alias="ION_SMTP_HOST", description="SMTP server the reports are emailed through (unset: no SMTP)."
    )
    smtp_port: int = Field(587, alias="ION_SMTP_PORT", description="SMTP port (587 STARTTLS, 465 TLS, 25 plain).")
    smtp_user: str | None = Field(None, alias="ION_SMTP_USER", description="SMTP login, when the server needs one.")
    smtp_password: str | None = Field(None, alias="ION_SMTP_PASSWORD", description="SMTP password (a secret).")
    smtp_tls: Literal["starttls", "tls", "none"] = Field(
        "starttls", alias="ION_SMTP_TLS", description="starttls, tls (implicit, port 465) or none (local relays)."
    )
    report_email_from: str = Field(
        "ionbot@localhost", alias="ION_REPORT_EMAIL_FROM", description="The From address of report emails."
    )
    report_email_to: CommaList = Field(
        default_factory=list,
        alias="ION_REPORT_EMAIL_TO",
        description="Comma-separated addresses for the daily, summary and final reports (else the runbook's).",
    )
    report_maildir: Path | None = Field(
        None,
        alias="ION_REPORT_MAILDIR",
        description="Without SMTP: write report emails to this maildir (the console uses its files folder).",
    )
    billing_export: str | None = Field(
        None,
        alias="ION_BILLING_EXPORT",
        description="project.dataset.table of the Cloud Billing export; realised cost is read from it, not /ion cost.",
    )
    billing_api_url: str | None = Field(
        None, alias="ION_BILLING_API_URL", description="Override of the BigQuery API URL (local facades, tests)."
    )
    pagerduty_token: str | None = Field(
        None,
        alias="ION_PAGERDUTY_TOKEN",
        description="PagerDuty REST API v2 token (read-only): sre_oncall from the runbook's schedule.",
    )
    pagerduty_routing_key: str | None = Field(
        None,
        alias="ION_PAGERDUTY_ROUTING_KEY",
        description="Events API v2 integration key: rollback triggers page through it.",
    )
    pagerduty_api_url: str = Field(
        "https://api.pagerduty.com",
        alias="ION_PAGERDUTY_API_URL",
        description="PagerDuty REST API base URL (fakes, tests).",
    )
    pagerduty_events_url: str = Field(
        "https://events.pagerduty.com",
        alias="ION_PAGERDUTY_EVENTS_URL",
        description="Events API base URL (fakes, tests).",
    )
    timeline_url: str | None = Field(
        None,
        alias="ION_TIMELINE_URL",
        description="Public base URL of the web timeline (https://ion.example.run.app); cards and reports link to it.",
    )
    web_auth: Literal["slack", "iap", "off"] = Field(
        "slack",
        alias="ION_WEB_AUTH",
        description="Who may open the timeline: slack (Sign in with Slack), iap (behind Cloud Run IAP), off (no view).",
    )
    slack_client_id: str | None = Field(
        None, alias="SLACK_CLIENT_ID", description="The Slack app's client id (sign-in to the timeline)."
    )
    slack_client_secret: str | None = Field(
        None, alias="SLACK_CLIENT_SECRET", description="The Slack app's client secret (sign-in; a secret)."
    )
    slack_team_id: str | None = Field(
        None,
        alias="ION_SLACK_TEAM_ID",
        description="The workspace whose members may sign in (T...); unset: the bot token's own (auth.test).",
    )
    web_session_secret: str | None = Field(
        None,
        alias="ION_WEB_SESSION_SECRET",
        description="Signs the timeline's session cookies (a secret, 32+ characters; the same on every replica).",
    )
    iap_audience: str | None = Field(
        None,
        alias="ION_IAP_AUDIENCE",
        description="ION_WEB_AUTH=iap: the IAP JWT audience, /projects/NUMBER/global/backendServices/ID.",
    )
    iap_certs_url: str = Field(
        "https://www.gstatic.com/iap/verify/public_key",
        alias="ION_IAP_CERTS_URL",
        description="Where IAP's public keys are read (PEM by key id).",
    )
    sim_http_max_requests: int = Field(
        500, alias="ION_SIM_HTTP_MAX_REQUESTS", description="Cap on http.load requests against the sim app."
    )

    @field_validator("roles", "permissions", "sql_targets", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_name(cls, value: Any) -> Any:
        """Level names in any case (``debug``); anything else is refused rather than logged at INFO."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("report_email_to", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("runbook", mode="after")
    @classmethod
    def _runbook_path(cls, value: Path) -> Path:
        return resolve_runbook(value)


def resolve_runbook(path: Path) -> Path:
    """Where the runbook is read from: relative paths from the working directory, as written.

    Only the default (runbooks/week17.yaml) also looks in the project, so `ionbot simulate` works from
    any directory. A path found nowhere comes back absolute, so the error names the file it looked for.
    """
    path = path.expanduser()
    if path.is_absolute() or path.exists():
        return path
    if path == DEFAULT_RUNBOOK and (PROJECT_ROOT / path).exists():
        return PROJECT_ROOT / path
    return Path.cwd() / path


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; raise ConfigError listing every invalid variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            lines.append(f"  {name}: {err['msg']}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None


def settings_and_problems(**overrides: Any) -> tuple[Settings, list[str]]:
    """The settings, and a sentence per invalid variable; an invalid one takes its default, so the
    other checks (runbook, database) still run and `ionbot serve` can list every problem at once."""
    try:
        return Settings(**overrides), []
    except ValidationError as exc:
        errors = exc.errors()
    by_alias = {field.alias or name: name for name, field in Settings.model_fields.items()}
    problems, fallback = [], dict(overrides)
    for err in errors:
        alias = str(err["loc"][0]) if err["loc"] else "?"
        problems.append(f"{alias}: {err['msg']}.")
        name = by_alias.get(alias, alias)
        if name in Settings.model_fields:
            fallback[name] = Settings.model_fields[name].get_default(call_default_factory=True)
    try:
        return Settings(**fallback), problems
    except ValidationError:  # cannot happen with every bad field at its default; never hide the list
        return Settings.model_construct(), problems


def missing_for_serve(settings: Settings) -> list[str]:
    """A sentence per variable `ionbot serve` lacks (see ``_missing``)."""
    return [f"missing {m}: `ionbot serve` needs it." for m in _missing(settings)]


def _missing(settings: Settings) -> list[str]:
    """What `ionbot serve` lacks: Slack credentials (and, against real projects, SQL targets and roles)."""
    missing = []
    if not settings.slack_bot_token:
        missing.append("SLACK_BOT_TOKEN (the bot token, xoxb-...)")
    if not settings.slack_app_token and not settings.slack_signing_secret:
        missing.append("SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)")
    if settings.cloud == "gcp" and not settings.sql_targets:
        missing.append('ION_SQL_TARGETS (JSON, e.g. {"ion-primary-db": "postgresql+asyncpg://..."})')
    if settings.cloud == "gcp" and not settings.roles:
        # Against real projects the demo team would hold every role under made-up ids: nobody could act.
        missing.append('ION_ROLES (JSON role -> Slack user or group ids, e.g. {"lead": ["U123"]})')
    return missing


def require_for_serve(settings: Settings) -> None:
    """`ionbot serve` needs Slack credentials (and, against real projects, SQL targets and roles); all at once."""
    missing = _missing(settings)
    if missing:
        raise ConfigError("cannot start `ionbot serve`; missing:\n" + "\n".join(f"  {m}" for m in missing))


def env_table() -> str:
    """A Markdown table of every variable with its default, for the README."""
    rows = ["| variable | default | what it is |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "(none)" if default in (None, {}, []) else f"`{default}`"
        rows.append(f"| `{field.alias or name}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


def secret_values(settings: Settings) -> list[str]:
    """The deployment's own secrets, for the logs to mask wherever they appear (URL passwords are masked by shape)."""
    candidates = (
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.smtp_password,
        settings.pagerduty_token,
        settings.pagerduty_routing_key,
        settings.slack_client_secret,
        settings.web_session_secret,
    )
    return [value for value in candidates if value]
