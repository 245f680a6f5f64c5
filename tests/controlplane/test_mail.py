"""The SMTP mailer against a real SMTP server on loopback (aiosmtpd); a server that is not there is an error."""

from __future__ import annotations

import pytest

from controlplane.mail import MailError, NullMailer, SmtpMailer, mailer_from_settings
from controlplane.ports import Message
from controlplane.settings import Settings
from tests.support.ports import free_port
from tests.support.smtp import smtp_server


def test_a_message_reaches_a_real_smtp_server():
    with smtp_server() as server:
        SmtpMailer(server.host, server.port, "sahab@cloud.example.ma").send(
            Message("contact@startup.ma", "Sahab: notice", "Bonjour,\nvotre programme se termine bientôt.")
        )
        [received] = server.wait_for(1)
    assert received["From"] == "sahab@cloud.example.ma" and received["To"] == "contact@startup.ma"
    assert received["Subject"] == "Sahab: notice" and received["Message-ID"]
    assert "se termine bient" in received.get_payload(decode=True).decode()


def test_no_server_raises_mail_error():
    with pytest.raises(MailError, match="ConnectionRefused"):
        SmtpMailer("127.0.0.1", free_port(), "sahab@localhost", timeout=2).send(Message("a@b.ma", "s", "b"))


def test_the_null_mailer_is_the_default():
    assert isinstance(mailer_from_settings(Settings(demo_accounts=False)), NullMailer)
    assert isinstance(mailer_from_settings(Settings(demo_accounts=False, smtp_host="127.0.0.1")), SmtpMailer)
