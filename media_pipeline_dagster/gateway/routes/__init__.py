"""The gateway's routers, by concern: media (submit, status, rerun) and operations (health, metrics, docs)."""
