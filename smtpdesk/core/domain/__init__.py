"""Will it land? The sending domain's DNS checked before a campaign, and DKIM signing.

- :mod:`resolver`: DNS queries (dnspython) against ``SMTPDESK_DNS_SERVER``, the app
  setting or the system's resolvers; answers cached for their TTL.
- :mod:`spf`, :mod:`records`: SPF evaluated by pyspf for each server; DKIM keys and the
  DMARC record parsed; the organisational domain from the bundled Public Suffix List.
- :mod:`check`: the bulk-sender checklist (Gmail, Yahoo), each line pass/warn/fail.
- :mod:`signing`: DKIM signatures (RSA-SHA256, Ed25519-SHA256), keys and their TXT records.

No Qt here; every look-up blocks, so callers run them in a worker thread.
"""
