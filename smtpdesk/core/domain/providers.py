"""What the domain check knows of sending providers: their SPF include and DKIM selectors.

A provider's submission host (smtp.gmail.com) is not where its mail leaves from, so
its SPF is authorised by including the provider's record. DKIM selectors are the
names providers usually publish their keys under; Amazon SES' Easy DKIM and Postmark
use random or dated selectors, which only the user can give (``--selector``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    name: str
    hosts: tuple[str, ...]  # host names, or suffixes starting with "."
    spf_include: str
    selectors: tuple[str, ...]
    mailbox_domains: tuple[str, ...] = ()  # its free-mail domains, which it may send for

    def serves(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == h or (h.startswith(".") and host.endswith(h)) for h in self.hosts)


PROVIDERS = (
    Provider(
        "Google",
        ("smtp.gmail.com", "smtp-relay.gmail.com", "smtp.googlemail.com"),
        "_spf.google.com",
        ("google",),
        ("gmail.com", "googlemail.com"),
    ),
    Provider(
        "Microsoft 365",
        ("smtp.office365.com", "smtp-mail.outlook.com", ".mail.protection.outlook.com"),
        "spf.protection.outlook.com",
        ("selector1", "selector2"),
        ("outlook.com", "hotmail.com", "live.com", "msn.com"),
    ),
    Provider(
        "Yahoo",
        ("smtp.mail.yahoo.com",),
        "_spf.mail.yahoo.com",
        ("s2048", "s1024"),
        ("yahoo.com", "ymail.com", "rocketmail.com"),
    ),
    Provider("Amazon SES", (".amazonaws.com",), "amazonses.com", ()),
    Provider("SendGrid", ("smtp.sendgrid.net",), "sendgrid.net", ("s1", "s2")),
    Provider(
        "Mailgun",
        ("smtp.mailgun.org", "smtp.eu.mailgun.org"),
        "mailgun.org",
        ("k1", "mg", "smtp", "mailo"),
    ),
    Provider(
        "Postmark",
        ("smtp.postmarkapp.com", "smtp-broadcasts.postmarkapp.com"),
        "spf.mtasv.net",
        ("pm",),
    ),
    Provider(
        "Brevo", ("smtp-relay.brevo.com", "smtp-relay.sendinblue.com"), "spf.brevo.com", ("mail",)
    ),
    Provider(
        "Mailchimp Transactional", ("smtp.mandrillapp.com",), "spf.mandrillapp.com", ("mandrill",)
    ),
    Provider(
        "Zoho Mail",
        ("smtp.zoho.com", "smtp.zoho.eu", "smtppro.zoho.com"),
        "zohomail.com",
        ("zmail",),
    ),
    Provider("Fastmail", ("smtp.fastmail.com",), "spf.messagingengine.com", ("fm1", "fm2", "fm3")),
)

# Tried after the user's and the providers' own: names many hosts and relays use.
COMMON_SELECTORS = ("default", "dkim", "mail", "smtpdesk", "k1", "s1", "s2", "selector1", "google")

FREE_MAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
        "yahoo.com", "ymail.com", "rocketmail.com", "aol.com", "icloud.com", "me.com",
        "mac.com", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "yandex.ru",
        "yandex.com", "proton.me", "protonmail.com", "zoho.com", "mail.ru", "qq.com",
        "163.com", "free.fr", "orange.fr", "libero.it",
    }
)  # fmt: skip


def provider_for(host: str) -> Provider | None:
    return next((p for p in PROVIDERS if p.serves(host)), None)


def provider_selectors(hosts: list[str]) -> list[str]:
    """The user's servers' providers' selectors first, then the common ones, each once."""
    names: list[str] = []
    for host in hosts:
        provider = provider_for(host)
        if provider is not None:
            names += [s for s in provider.selectors if s not in names]
    names += [s for s in COMMON_SELECTORS if s not in names]
    for provider in PROVIDERS:
        names += [s for s in provider.selectors if s not in names]
    return names
