# ION rollout bot: `ionbot serve` on a slim Python, as a non-root user, dependencies pinned.
# BASE is python:3.11-slim; .ci/build-image passes a Debian bookworm rootfs (its python3 3.11 and
# python3-venv) where Docker Hub cannot be reached. The venv works on both, and keeps pip off
# Debian's externally managed system Python (PEP 668).
ARG BASE=python:3.11-slim
FROM ${BASE} AS base

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ION_LOG_FORMAT=json \
    PORT=8080

WORKDIR /app

# Dependencies first (pinned by constraints.txt) so code changes do not reinstall them.
COPY pyproject.toml constraints.txt README.md ./
COPY bot/__init__.py bot/__init__.py
RUN pip install -c constraints.txt . && pip uninstall -y ionbot

COPY bot bot
COPY runbooks runbooks
COPY templates templates
RUN pip install --no-deps -c constraints.txt . \
    && useradd --create-home --uid 10001 ion \
    && mkdir -p /data && chown ion /data

USER ion
ENV ION_DATABASE_URL=sqlite+aiosqlite:////data/ion.db \
    ION_RUNBOOK=/app/runbooks/week17.yaml \
    ION_TEMPLATES_DIR=/app/templates

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os,urllib.request,sys; sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8080\")}/healthz', timeout=2).status == 200 else 1)"

CMD ["ionbot", "serve"]
