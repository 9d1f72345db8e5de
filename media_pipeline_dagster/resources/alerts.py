"""Where alerts go and what counts as a stuck backlog (MEDIA_PIPELINE_ALERT_* in settings.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

import dagster as dg
import requests
import tenacity

from ..kernel.resilience import Kind, backoff_wait, http_kind, retry_after_seconds

ALERT_ATTEMPTS = 4  # the first try and three retries, about four seconds in all


class _TransientAnswer(Exception):
    """The webhook answered 429/5xx: worth another try after ``retry_after`` if it asked."""

    def __init__(self, response: requests.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = retry_after_seconds(response.headers)


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
        """POST the payload; 429, 5xx and connection errors are retried with backoff
        (kernel.resilience), so a chat service's brief hiccup does not lose the alert."""
        url = self.alert_webhook_url
        if not url:
            return
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(ALERT_ATTEMPTS),
            wait=backoff_wait(0.5, 8.0),
            retry=tenacity.retry_if_exception_type(
                (_TransientAnswer, requests.ConnectionError, requests.Timeout)
            ),
            reraise=True,
        )
        with requests.Session() as session:
            try:
                response = retrying(self._post_once, session, url, payload)
            except _TransientAnswer as exc:
                response = exc.response
        if response.status_code >= 300:
            host = urlsplit(url).hostname
            raise AlertWebhookError(
                f"alert webhook at {host} answered {response.status_code}: {response.text[:200]!r}; "
                "check MEDIA_PIPELINE_ALERT_WEBHOOK_URL"
            )

    def _post_once(self, session: requests.Session, url: str, payload: dict) -> requests.Response:
        response = session.post(url, json=payload, timeout=self.timeout_seconds)
        if http_kind(response.status_code) is Kind.TRANSIENT:
            raise _TransientAnswer(response)
        return response
