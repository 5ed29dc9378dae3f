"""The runbook as data: models, the YAML loader with file:line:col problems, the condition language."""
