"""On-call from PagerDuty: who holds sre_oncall now, and real pages for rollback triggers."""
