"""Adapters to the outside world: Cloud Run, Cloud SQL, Cloud Monitoring, HTTP probes, SQL targets."""
