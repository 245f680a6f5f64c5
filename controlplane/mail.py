"""E-mail: the Mailer port (controlplane.ports) over smtplib (`SAHAB_SMTP_HOST`), or a null one (no server set).

Messages are plain text. Sending is the caller's step outside any transaction; a failure raises
MailError with the server's answer, so the caller can retry later."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from controlplane.ports import Message
from controlplane.settings import Settings


class MailError(Exception):
    pass


class NullMailer:
    delivers = False

    def send(self, message: Message) -> None:
        return None


class SmtpMailer:
    delivers = True

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = False,
        username: str = "",
        password: str = "",
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.username, self.password, self.timeout = starttls, username, password, timeout

    def send(self, message: Message) -> None:
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = self.sender, message.to, message.subject
        email["Date"], email["Message-ID"] = (
            formatdate(localtime=False),
            make_msgid(domain=self.sender.partition("@")[2] or None),
        )
        email.set_content(message.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(email)
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(f"{type(error).__name__}: {error}") from error
        if refused:
            raise MailError(f"recipient refused: {refused}")


def mailer_from_settings(settings: Settings) -> NullMailer | SmtpMailer:
    if not settings.smtp_host:
        return NullMailer()
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_sender,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout_seconds,
    )
