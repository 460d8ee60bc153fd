"""The real Dovecot of tests/helpers/dovecot.py for the feedback mailbox's tests."""

from tests.helpers.dovecot import dovecot  # noqa: F401  (a fixture)
