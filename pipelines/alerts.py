"""Alerts: a failed run or a threshold breach, sent where the operator configured, the dlt way.

- Slack: dlt's own setting ``runtime.slack_incoming_hook`` (``RUNTIME__SLACK_INCOMING_HOOK``,
  or ``slack_incoming_hook`` under ``[runtime]`` in ``.dlt/secrets.toml``), sent with dlt's
  `send_slack_message`.
- Any other receiver: ``alerts.webhook_url`` (``ALERTS__WEBHOOK_URL``) gets the run summary as a
  JSON POST (``{"event": "bc2people.run_failed" | "bc2people.rejected_threshold", "summary": ...}``).

Both URLs carry secrets and are masked in output. An alert that cannot be delivered is logged
as a warning; it never changes the run's result or exit code.
"""

from __future__ import annotations

from typing import Any

TIMEOUT_S = 10.0


def alert_text(summary: dict[str, Any]) -> str:
    """The one-paragraph alert: what happened, the run id, the error."""
    status = summary.get("status")
    what = "failed" if status == "failed" else "finished with too many rejected records (exit 3)"
    return f"bc2people sync {summary.get('run_id', '')} {what}: {summary.get('error') or 'no error recorded'}"


def send_alerts(summary: dict[str, Any]) -> list[str]:
    """Send the alert to every configured receiver; returns the receivers reached (``slack``, ``webhook``)."""
    from bc2people.pipelines.config import ALERT_WEBHOOK, SLACK_HOOK, lookup
    from bc2people.pipelines.output import event, install_redaction

    slack, webhook = lookup(SLACK_HOOK), lookup(ALERT_WEBHOOK)
    install_redaction([v for v in (slack, webhook) if v])
    reached: list[str] = []
    text = alert_text(summary)
    if slack:
        try:
            from dlt.common.runtime.slack import send_slack_message

            send_slack_message(slack, text)
            reached.append("slack")
        except Exception as exc:  # noqa: BLE001 - an alert must never fail the run
            event("could not send the Slack alert", level=30, error=type(exc).__name__)
    if webhook:
        import requests

        kind = "run_failed" if summary.get("status") == "failed" else "rejected_threshold"
        try:
            resp = requests.post(webhook, json={"event": f"bc2people.{kind}", "text": text, "summary": summary},
                                 timeout=TIMEOUT_S)
            resp.raise_for_status()
            reached.append("webhook")
        except Exception as exc:  # noqa: BLE001 - an alert must never fail the run
            event("could not send the webhook alert", level=30, error=type(exc).__name__)
    if reached:
        event("alert sent", run_id=summary.get("run_id"), to=",".join(reached))
    return reached
