"""The embedded world: an in-memory Cloud Run / Cloud SQL and facades the real clients can talk to."""
