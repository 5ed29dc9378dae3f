"""The Cloud Run files in deploy/cloudrun agree with the code: the probes ask paths the server
serves, every environment variable is a real setting, secrets come from Secret Manager, the port
is the image's, and the commands are ones `ionbot` parses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.cli import build_parser
from bot.config import Settings
from bot.slack.server import make_web_app

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "cloudrun"
SECRETS = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "ION_DATABASE_URL", "ION_SQL_TARGETS"}


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((DEPLOY / name).read_text())
    assert isinstance(document, dict)
    return document


def _service_container() -> dict[str, Any]:
    (container,) = _load("service.yaml")["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _job_container() -> dict[str, Any]:
    (container,) = _load("migrate-job.yaml")["spec"]["template"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _setting_names() -> set[str]:
    return {field.alias or name for name, field in Settings.model_fields.items()}


async def _ready() -> bool:
    return True


def _served_get_paths() -> set[str]:
    app = make_web_app(None, _ready)
    return {
        route.resource.canonical
        for route in app.router.routes()
        if route.method == "GET" and route.resource is not None
    }


def _dockerfile_port() -> int:
    text = (ROOT / "Dockerfile").read_text()
    exposed = re.search(r"^EXPOSE (\d+)$", text, re.MULTILINE)
    assert exposed is not None
    assert f"PORT={exposed.group(1)}" in text, "the image's PORT and its EXPOSE must agree"
    return int(exposed.group(1))


def test_the_service_starts_ionbot_serve_on_the_images_port() -> None:
    container = _service_container()
    assert [*container["command"], *container["args"]] == ["ionbot", "serve"]
    assert build_parser().parse_args(container["args"]).command == "serve"
    assert [port["containerPort"] for port in container["ports"]] == [_dockerfile_port()]


def test_the_startup_probe_asks_readyz_and_the_liveness_probe_healthz_both_served() -> None:
    container = _service_container()
    served = _served_get_paths()
    startup, liveness = container["startupProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert startup["path"] == "/readyz" and liveness["path"] == "/healthz"
    assert {startup["path"], liveness["path"]} <= served
    assert startup["port"] == liveness["port"] == _dockerfile_port()


def test_one_warm_instance_with_cpu_always_allocated() -> None:
    annotations = _load("service.yaml")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/minScale"] == "1"
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"


def test_every_variable_named_is_a_real_setting_and_port_is_left_to_cloud_run() -> None:
    settings = _setting_names()
    for container in (_service_container(), _job_container()):
        names = [variable["name"] for variable in container["env"]]
        assert set(names) <= settings, f"not settings: {set(names) - settings}"
        assert "PORT" not in names, "Cloud Run sets PORT itself and refuses a service that sets it"


def test_secrets_come_from_secret_manager_never_as_plain_values() -> None:
    for container in (_service_container(), _job_container()):
        for variable in container["env"]:
            if variable["name"] in SECRETS:
                assert "value" not in variable, f"{variable['name']} must not be written into the YAML"
                assert variable["valueFrom"]["secretKeyRef"]["key"] == "latest"


def test_the_service_has_what_serve_requires_in_http_mode() -> None:
    names = {variable["name"] for variable in _service_container()["env"]}
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ION_DATABASE_URL"} <= names
    # With ION_CLOUD=gcp, serve also requires the SQL targets and the roles (bot/config.py).
    assert {"ION_CLOUD", "ION_SQL_TARGETS", "ION_ROLES"} <= names


def test_the_migration_job_runs_ionbot_db_upgrade_on_the_same_database_and_image() -> None:
    job, service = _job_container(), _service_container()
    assert [*job["command"], *job["args"]] == ["ionbot", "db", "upgrade"]
    parsed = build_parser().parse_args(job["args"])
    assert (parsed.command, parsed.db_command) == ("db", "upgrade")
    assert job["image"] == service["image"]
    database = [v for v in job["env"] if v["name"] == "ION_DATABASE_URL"]
    assert database == [v for v in service["env"] if v["name"] == "ION_DATABASE_URL"]


def test_the_deploy_readme_applies_exactly_these_files() -> None:
    text = (DEPLOY / "README.md").read_text()
    assert "gcloud run services replace deploy/cloudrun/service.yaml" in text
    assert "gcloud run jobs replace deploy/cloudrun/migrate-job.yaml" in text
    assert "gcloud run jobs execute ionbot-db-upgrade" in text
    secret_names = set(re.findall(r"name: (ionbot-[a-z-]+)\n", (DEPLOY / "service.yaml").read_text()))
    assert secret_names and all(f"gcloud secrets create {name}" in text for name in secret_names)
