"""After the send: bounces, complaints and unsubscribe requests read from a mailbox (issue 12).

A desktop app has no public web endpoint, so a mailbox is its feedback channel:

- :mod:`tokens`: the signed per-recipient token of ``List-Unsubscribe`` (HMAC, key in the keyring);
- :mod:`classify`: one message in, what it says out (RFC 3464 DSN, flufl.bounce as the
  fallback, RFC 5965 ARF, a mailto unsubscribe request, an RFC 3834 auto-reply, or nothing);
- :mod:`records`: the database side: matching, outcomes per recipient, suppression, and
  what was read so nothing counts twice;
- :mod:`mailbox`: IMAP and POP3 (blocking stdlib clients, run in a thread);
- :mod:`scan`: one bounded, idempotent, streaming scan, and the mailbox check.
"""
