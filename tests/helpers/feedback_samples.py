# ruff: noqa: E501  (the providers' lines are as long as they are)
"""Feedback mail as providers send it, written for the tests (issue 12).

Each function takes the message we sent (its bytes as the SMTP server received them) and
wraps it the way that provider reports on it: Gmail's and Microsoft 365's DSNs
(``multipart/report``, RFC 3464, the original attached whole), Postfix's (the original's
headers only), Exim's plain-text bounce (no DSN: ``X-Failed-Recipients`` and the original
quoted, for flufl.bounce), a Yahoo-style ARF complaint (RFC 5965), an Outlook vacation
notice (RFC 3834) and the unsubscribe request a mail client sends to a mailto link.
"""

from __future__ import annotations

import itertools
from email import message_from_bytes, policy

_serial = itertools.count(1)


def _id(domain: str) -> str:
    return f"<feedback.{next(_serial)}.20261201@{domain}>"


def headers_of(original: bytes) -> str:
    """The original's header block, as text."""
    head = original.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return head.decode("utf-8", "replace")


def _original_whole(original: bytes) -> str:
    return original.replace(b"\r\n", b"\n").decode("utf-8", "replace")


def subject_of(original: bytes) -> str:
    return str(message_from_bytes(original, policy=policy.default)["Subject"])


def gmail_hard(original: bytes, recipient: str, sender: str = "news@example.com") -> bytes:
    message_id = _id("mx.google.com")
    return f"""Delivered-To: bounces@example.com
Return-Path: <>
Received: by 2002:a05:6a10:1234 with SMTP id x; Tue, 1 Dec 2026 02:10:11 -0800 (PST)
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {sender}
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
Message-ID: {message_id}
Date: Tue, 01 Dec 2026 02:10:11 -0800 (PST)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000gmail"; report-type=delivery-status

--000000000000gmail
Content-Type: multipart/related; boundary="000000000000gmailrel"

--000000000000gmailrel
Content-Type: text/plain; charset="UTF-8"


** Address not found **

Your message wasn't delivered to {recipient} because the address couldn't be found, or is unable to receive mail.

The response from the remote server was:
550 5.1.1 The email account that you tried to reach does not exist.

--000000000000gmailrel--

--000000000000gmail
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; news@example.com
Arrival-Date: Tue, 01 Dec 2026 02:10:10 -0800 (PST)
X-Original-Message-ID: <whatever@example.com>

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.com. (2a00:1450:400c:c0b::1b, the server for the domain.)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try
 550-5.1.1 double-checking the recipient's email address for typos or
 550 5.1.1 https://support.google.com/mail/?p=NoSuchUser x7si1234.123 - gsmtp
Last-Attempt-Date: Tue, 01 Dec 2026 02:10:11 -0800 (PST)

--000000000000gmail
Content-Type: message/rfc822

{_original_whole(original)}
--000000000000gmail--
""".encode()


def postfix_hard(original: bytes, recipient: str, sender: str = "news@example.com") -> bytes:
    message_id = _id("mail.example.org")
    return f"""Return-Path: <>
From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {sender}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="5F1A2B3C4D.1764555011/mail.example.org"
Content-Transfer-Encoding: 8bit
Message-Id: {message_id}
Date: Tue,  1 Dec 2026 02:10:11 +0000 (UTC)

This is a MIME-encapsulated message.

--5F1A2B3C4D.1764555011/mail.example.org
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mail.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

<{recipient}>: host mx.example.org[192.0.2.25] said: 550 5.1.1
    <{recipient}>: Recipient address rejected: User unknown in virtual mailbox
    table (in reply to RCPT TO command)

--5F1A2B3C4D.1764555011/mail.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.org
X-Postfix-Queue-ID: 5F1A2B3C4D
X-Postfix-Sender: rfc822; {sender}
Arrival-Date: Tue,  1 Dec 2026 02:10:10 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected:
    User unknown in virtual mailbox table

--5F1A2B3C4D.1764555011/mail.example.org
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

{headers_of(original)}

--5F1A2B3C4D.1764555011/mail.example.org--
""".encode()


def microsoft_delayed(original: bytes, recipient: str, sender: str = "news@example.com") -> bytes:
    """Microsoft 365's "Delivery delayed" notice: a soft bounce (4.4.7)."""
    message_id = _id("PH0PR11MB1234.namprd11.prod.outlook.com")
    return f"""From: postmaster@contoso.onmicrosoft.com
To: {sender}
Date: Tue, 1 Dec 2026 10:10:11 +0000
Content-Type: multipart/report; report-type=delivery-status;
	boundary="a1b2c3d4-microsoft"
MIME-Version: 1.0
Message-ID: {message_id}
Subject: Delivery delayed:{subject_of(original)}
Auto-Submitted: auto-replied
X-MS-Exchange-Message-Is-Ndr:

--a1b2c3d4-microsoft
Content-Type: text/plain; charset="us-ascii"

Delivery is delayed to these recipients or groups:

{recipient}

This message hasn't been delivered yet. Delivery will continue to be attempted.

--a1b2c3d4-microsoft
Content-Type: message/delivery-status

Reporting-MTA: dns;PH0PR11MB1234.namprd11.prod.outlook.com
Received-From-MTA: dns;PH0PR11MB5678.namprd11.prod.outlook.com
Arrival-Date: Tue, 1 Dec 2026 02:10:11 +0000

Final-Recipient: rfc822;{recipient}
Action: delayed
Status: 4.4.7
Diagnostic-Code: smtp;400 4.4.7 Message delayed
Will-Retry-Until: Thu, 3 Dec 2026 02:10:11 +0000
X-Display-Name: {recipient}

--a1b2c3d4-microsoft
Content-Type: message/rfc822

{_original_whole(original)}
--a1b2c3d4-microsoft--
""".encode()


def microsoft_hard(original: bytes, recipient: str, sender: str = "news@example.com") -> bytes:
    """Microsoft 365's "Undeliverable:" report for an address that does not exist."""
    message_id = _id("PH0PR11MB1234.namprd11.prod.outlook.com")
    return f"""From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.onmicrosoft.com>
To: {sender}
Date: Tue, 1 Dec 2026 10:10:11 +0000
Content-Type: multipart/report; report-type=delivery-status;
	boundary="b2c3d4e5-microsoft"
MIME-Version: 1.0
Message-ID: {message_id}
Subject: Undeliverable: {subject_of(original)}
Auto-Submitted: auto-replied

--b2c3d4e5-microsoft
Content-Type: text/plain; charset="us-ascii"

Your message to {recipient} couldn't be delivered.
{recipient.split("@")[0]} wasn't found at {recipient.split("@")[1]}.

--b2c3d4e5-microsoft
Content-Type: message/delivery-status

Reporting-MTA: dns;PH0PR11MB1234.namprd11.prod.outlook.com
Received-From-MTA: dns;PH0PR11MB5678.namprd11.prod.outlook.com
Arrival-Date: Tue, 1 Dec 2026 02:10:11 +0000

Original-Recipient: rfc822;{recipient}
Final-Recipient: rfc822;{recipient}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup

--b2c3d4e5-microsoft
Content-Type: message/rfc822

{_original_whole(original)}
--b2c3d4e5-microsoft--
""".encode()


def exim_hard(original: bytes, recipient: str, sender: str = "news@example.com") -> bytes:
    """Exim's plain-text bounce: no DSN, so flufl.bounce reads it."""
    message_id = _id("mx.example.net")
    return f"""Return-path: <>
From: Mail Delivery System <Mailer-Daemon@mx.example.net>
To: {sender}
Subject: Mail delivery failed: returning message to sender
Message-Id: {message_id}
Date: Tue, 01 Dec 2026 02:10:11 +0000
X-Failed-Recipients: {recipient}
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    host mx.example.net [192.0.2.50]
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    550 5.1.1 <{recipient}>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

Return-path: <{sender}>
{headers_of(original)}

(body omitted)
""".encode()


def arf_complaint(original: bytes, recipient: str, sender: str = "news@example.com") -> bytes:
    """A Yahoo-style ARF report (RFC 5965): the recipient pressed "This is spam"."""
    message_id = _id("feedback.yahoo.com")
    return f"""From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>
To: bounces@example.com
Subject: FW: {subject_of(original)}
Message-ID: {message_id}
Date: Tue, 01 Dec 2026 02:10:11 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
	boundary="----=_Part_arf"

------=_Part_arf
Content-Type: text/plain; charset=us-ascii

This is an email abuse report for an email message received from IP 192.0.2.1.

------=_Part_arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 0.1
Original-Mail-From: <{sender}>
Original-Rcpt-To: <{recipient}>
Received-Date: Tue, 01 Dec 2026 02:00:00 +0000
Reported-Domain: example.com
Authentication-Results: mta1000.mail.bf1.yahoo.com  from=example.com; domainkeys=neutral

------=_Part_arf
Content-Type: message/rfc822

{_original_whole(original)}
------=_Part_arf--
""".encode()


def vacation(original: bytes, recipient: str, sender: str = "news@example.com") -> bytes:
    """Outlook's automatic reply (RFC 3834 ``Auto-Submitted``)."""
    message_id = _id("example.com")
    return f"""From: Vacationing Person <{recipient}>
To: {sender}
Subject: Automatic reply: {subject_of(original)}
Message-ID: {message_id}
Date: Tue, 01 Dec 2026 02:10:11 +0000
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
In-Reply-To: {message_from_bytes(original)["Message-ID"]}
Content-Type: text/plain; charset=us-ascii

I am out of the office until Monday, with no access to email.
""".encode()


def unsubscribe_request(recipient: str, to: str, subject: str) -> bytes:
    """What a mail client sends for ``mailto:ADDRESS?subject=unsubscribe-TOKEN``."""
    message_id = _id("mail.gmail.com")
    return f"""From: {recipient}
To: {to}
Subject: {subject}
Message-ID: {message_id}
Date: Tue, 01 Dec 2026 02:10:11 +0000
Content-Type: text/plain; charset=UTF-8

This message was automatically generated by Gmail.
""".encode()


def unrelated(sender: str = "friend@example.org") -> bytes:
    return f"""From: {sender}
To: bounces@example.com
Subject: Lunch on Friday?
Message-ID: {_id("example.org")}
Date: Tue, 01 Dec 2026 02:10:11 +0000

Are you free?
""".encode()
