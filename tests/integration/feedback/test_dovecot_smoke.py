import imaplib
import poplib
import ssl

from tests.helpers.dovecot import PASSWORD, Dovecot


def test_dovecot_serves_imap_and_pop3(dovecot: Dovecot, trust_test_ca: object) -> None:
    user = dovecot.add_user()
    dovecot.deliver(user, b"Subject: hi\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n")
    imap = imaplib.IMAP4_SSL("127.0.0.1", dovecot.imaps, ssl_context=ssl.create_default_context())
    imap.login(user, PASSWORD)
    _, data = imap.select("INBOX")
    assert data[0] == b"1"
    imap.logout()
    pop = poplib.POP3("127.0.0.1", dovecot.pop3)
    pop.stls(ssl.create_default_context())
    pop.user(user)
    pop.pass_(PASSWORD)
    assert pop.stat()[0] == 1
    pop.quit()
