"""Where alerts go and what counts as a stuck backlog (MEDIA_PIPELINE_ALERT_* in settings.py)."""

from __future__ import annotations

import dagster as dg
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class AlertWebhookError(RuntimeError):
    """The webhook did not take the alert; the message names the status and the host."""


class OperationsResource(dg.ConfigurableResource):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, Teams workflows
    and most chat tools accept ``{"text": …, "blocks": […]}``) and the backlog threshold."""

    alert_webhook_url: str | None = None
    ui_base_url: str | None = None  # links in alerts, e.g. https://dagster.example.com
    pending_max_hours: float = 24.0
    timeout_seconds: float = 10.0

    @property
    def alerts_enabled(self) -> bool:
        return bool(self.alert_webhook_url)

    def run_url(self, run_id: str) -> str | None:
        return f"{self.ui_base_url.rstrip('/')}/runs/{run_id}" if self.ui_base_url else None

    def post(self, payload: dict) -> None:
        """POST the payload; 429 and 5xx are retried with backoff (urllib3's Retry), so a
        chat service's brief hiccup does not lose the alert."""
        if not self.alert_webhook_url:
            return
        session = requests.Session()
        retry = Retry(
            total=3,
            backoff_factor=0.5,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"POST"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        with session:
            response = session.post(
                self.alert_webhook_url, json=payload, timeout=self.timeout_seconds
            )
        if response.status_code >= 300:
            host = requests.utils.urlparse(self.alert_webhook_url).hostname
            raise AlertWebhookError(
                f"alert webhook at {host} answered {response.status_code}: {response.text[:200]!r}; "
                "check MEDIA_PIPELINE_ALERT_WEBHOOK_URL"
            )
