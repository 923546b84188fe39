"""Email notifications, sent by the fulfilment engine so a failing mail server loses nothing."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from servicebay.catalog.fulfilment.outcome import Outcome
from servicebay.core.settings import Settings

TIMEOUT_SECONDS = 15.0


def configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def send(payload: dict[str, Any], *, settings: Settings) -> Outcome:
    """Deliver one message; temporary failures retry, permanent refusals end the run."""
    if not configured(settings):
        return Outcome.fatal("no mail server is configured (SERVICEBAY_SMTP_HOST)")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = str(payload["to"])
    message["Subject"] = str(payload["subject"])
    message.set_content(str(payload["body"]))
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)
    except smtplib.SMTPResponseException as error:
        answer = f"{error.smtp_code} {error.smtp_error!r}"
        if 500 <= error.smtp_code < 600:
            return Outcome.fatal(f"mail server refused the message: {answer}")
        return Outcome.retry(f"mail server answered {answer}")
    except smtplib.SMTPRecipientsRefused as error:
        return Outcome.fatal(f"mail server refused the recipient: {error.recipients}")
    except (OSError, smtplib.SMTPException) as error:
        return Outcome.retry(f"could not reach the mail server: {error}")
    return Outcome.succeeded(message=f"email sent to {payload['to']}")
