from smtpdesk.core.wording import counted


def test_counted_uses_the_singular_for_one_only() -> None:
    assert counted(1, "campaign") == "1 campaign"
    assert counted(0, "campaign") == "0 campaigns"
    assert counted(3, "field") == "3 fields"
    assert counted(1200, "recipient") == "1,200 recipients"
    assert counted(2, "mailbox", "mailboxes") == "2 mailboxes"
