"""Every template rendered once with a sample context at start-up, so a broken team template is
reported when the bot starts (a sentence naming file and line), not at 5 PM.

Apart from bot/reports/render.py because the samples are built through the template contexts
(bot/reports/context.py), which render with the renderer: rendering must not import its checks.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError

from bot.reports.render import PACKAGED_TEMPLATES, TEMPLATE_NAMES, TEMPLATES_DIR_ENV, build_environment
from bot.reports.samples import sample_contexts


def validate_templates(custom_dir: Path | None = None) -> list[str]:
    """Render every template with a sample context; one sentence per problem, naming file and line."""
    if custom_dir is not None and not custom_dir.is_dir():
        return [
            f"{custom_dir}: the template directory ({TEMPLATES_DIR_ENV}) does not exist; "
            "the packaged templates would be used for every report. Create it or unset the variable."
        ]
    env = build_environment(custom_dir)
    contexts = sample_contexts()
    problems: list[str] = []
    for name in TEMPLATE_NAMES:
        try:
            template = env.get_template(name)
            template.render(**contexts[name])
        except TemplateSyntaxError as error:
            where = f"{error.filename or error.name or name}:{error.lineno}"
            problems.append(f"{where}: {error.message}. {_advice(name)}")
        except TemplateNotFound as error:
            problems.append(f"{name}: the template {error.name} was not found in {_dirs(custom_dir)}. {_advice(name)}")
        except Exception as error:  # any render error must be reported, not crash start-up
            problems.append(f"{_render_location(error, name)}: {_describe(error)}. {_advice(name)}")
    return problems


def _advice(name: str) -> str:
    return f"Nothing was posted; fix the template and restart, or delete it to use the packaged {name}."


def _dirs(custom_dir: Path | None) -> str:
    return f"{custom_dir} or {PACKAGED_TEMPLATES}" if custom_dir else str(PACKAGED_TEMPLATES)


def _describe(error: Exception) -> str:
    if isinstance(error, TemplateError):
        return error.message or type(error).__name__
    return f"{type(error).__name__}: {error}"


def _render_location(error: Exception, name: str) -> str:
    """Jinja rewrites tracebacks so template frames carry the template file and line: use the last one."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.endswith(".j2"):
            return f"{frame.filename}:{frame.lineno}"
    return name
