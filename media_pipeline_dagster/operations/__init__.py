"""Operating a deployment: alerts on failed runs, a stuck-backlog check, the daemon heartbeat."""
