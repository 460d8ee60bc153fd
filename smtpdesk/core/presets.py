"""Provider presets: the usual host, port, security and sending limits of well-known services."""

from __future__ import annotations

from dataclasses import dataclass

from smtpdesk.core.errors import NotFoundError
from smtpdesk.core.settings import AuthProtocol, OAuthProvider, TlsType

SES_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1",
    "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ap-northeast-2",
    "ap-northeast-3", "me-south-1", "af-south-1", "il-central-1",
)  # fmt: skip


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    host: str
    port: int
    auth_protocol: AuthProtocol
    tls_type: TlsType
    help: str
    username: str = ""
    max_per_second: float | None = None
    max_per_hour: int | None = None
    max_per_day: int | None = None
    regions: tuple[str, ...] = ()  # when set, ``host`` holds "{region}"
    limits_note: str = ""
    oauth_provider: OAuthProvider | None = None  # the provider of OAuth sign-in (xoauth2)

    def fill(self, region: str | None = None) -> dict[str, object]:
        """The settings this preset fills, ready for ``parse_server``."""
        host = self.host
        if self.regions:
            chosen = region or self.regions[0]
            if chosen not in self.regions:
                raise NotFoundError(
                    f"{chosen!r} is not an {self.label} region.",
                    "Regions: " + ", ".join(self.regions),
                )
            host = host.format(region=chosen)
        values: dict[str, object] = {
            "host": host,
            "port": self.port,
            "auth_protocol": self.auth_protocol,
            "tls_type": self.tls_type,
            "max_per_second": self.max_per_second,
            "max_per_hour": self.max_per_hour,
            "max_per_day": self.max_per_day,
        }
        if self.username:
            values["username"] = self.username
        if self.oauth_provider is not None:
            values["oauth_provider"] = self.oauth_provider
        return values


PRESETS: tuple[Preset, ...] = (
    Preset(
        "ses",
        "Amazon SES",
        "email-smtp.{region}.amazonaws.com",
        587,
        AuthProtocol.LOGIN,
        TlsType.STARTTLS,
        "Create SMTP credentials in the SES console (SMTP settings); they differ from your AWS "
        "keys. New accounts are in sandbox mode: they can only send to verified addresses, 1 "
        "message per second and 200 per day, until you request production access.",
        max_per_second=1,
        max_per_day=200,
        regions=SES_REGIONS,
        limits_note="Sandbox limits: 1/s and 200/day. Raise them after production access.",
    ),
    Preset(
        "sendgrid",
        "SendGrid",
        "smtp.sendgrid.net",
        587,
        AuthProtocol.PLAIN,
        TlsType.STARTTLS,
        "The username is always 'apikey' and the password is a SendGrid API key with Mail Send "
        "permission.",
        username="apikey",
        max_per_day=100,
        limits_note="The free plan allows 100 messages a day; paid plans set their own.",
    ),
    Preset(
        "postmark",
        "Postmark",
        "smtp.postmarkapp.com",
        587,
        AuthProtocol.PLAIN,
        TlsType.STARTTLS,
        "Use a Server API token as both username and password. For bulk mail use the broadcast "
        "stream host smtp-broadcasts.postmarkapp.com.",
    ),
    Preset(
        "gmail",
        "Gmail",
        "smtp.gmail.com",
        587,
        AuthProtocol.PLAIN,
        TlsType.STARTTLS,
        "Use your full address as username, then either an App Password (Google account → "
        "Security → App passwords; needs 2-Step Verification), not your regular password; or "
        "OAuth sign-in: Protocol xoauth2 with your own Google Cloud client ID (see the README), "
        "then Sign in… in the browser, no password at all. Port 465 with TLS works too.",
        max_per_day=500,
        limits_note="Google publishes 500 recipients a day for a personal account and 2,000 "
        "for Google Workspace.",
        oauth_provider=OAuthProvider.GOOGLE,
    ),
    Preset(
        "mailgun",
        "Mailgun",
        "smtp.mailgun.org",
        587,
        AuthProtocol.PLAIN,
        TlsType.STARTTLS,
        "Use the SMTP credentials of your sending domain (for example postmaster@mg.example.com). "
        "Domains in the EU region use smtp.eu.mailgun.org.",
    ),
    Preset(
        "microsoft365",
        "Microsoft 365",
        "smtp.office365.com",
        587,
        AuthProtocol.XOAUTH2,
        TlsType.STARTTLS,
        "OAuth sign-in: the mailbox address as username and your own Microsoft Entra client ID "
        "(see the README), then Sign in… in the browser. Exchange Online turns passwords (basic "
        "authentication) off by default at the end of 2026. SMTP AUTH must be enabled for the "
        "mailbox in the Microsoft 365 admin center.",
        max_per_second=0.5,
        max_per_day=10000,
        limits_note="30 messages a minute and 10,000 recipients a day per mailbox.",
        oauth_provider=OAuthProvider.MICROSOFT,
    ),
    Preset(
        "outlook",
        "Outlook.com",
        "smtp-mail.outlook.com",
        587,
        AuthProtocol.XOAUTH2,
        TlsType.STARTTLS,
        "Personal Microsoft accounts (outlook.com, hotmail.com, live.com) accept only OAuth "
        "sign-in: the address as username and your own Microsoft Entra client ID registered "
        "for personal accounts (see the README), then Sign in… in the browser.",
        max_per_day=300,
        limits_note="Microsoft publishes 300 messages a day and 100 recipients a message for "
        "Outlook.com; new accounts start lower.",
        oauth_provider=OAuthProvider.MICROSOFT,
    ),
    Preset(
        "custom",
        "Custom SMTP server",
        "",
        587,
        AuthProtocol.PLAIN,
        TlsType.STARTTLS,
        "Any SMTP server: port 587 with STARTTLS is the usual submission port, 465 uses TLS "
        "from the start, 25 is often blocked by providers and 2525 is a common alternative.",
    ),
)


def get_preset(key: str) -> Preset:
    for preset in PRESETS:
        if preset.key == key:
            return preset
    raise NotFoundError(
        f"There is no preset called {key!r}.", "Presets: " + ", ".join(p.key for p in PRESETS)
    )
