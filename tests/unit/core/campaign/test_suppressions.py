from pathlib import Path

from smtpdesk.core.campaign.suppressions import SuppressionList
from smtpdesk.core.store import Store


def test_suppression_list(store: Store, tmp_path: Path) -> None:
    suppressions = SuppressionList(store)
    assert suppressions.suppress(["Bounce@Example.com"], "bounced") == 1
    plain = tmp_path / "list.txt"
    plain.write_text("a@example.com\nb@example.com\n")
    assert suppressions.import_suppressions(plain) == 2
    with_header = tmp_path / "unsub.csv"
    with_header.write_text("name,email\nX,c@example.com\n")
    assert suppressions.import_suppressions(with_header, "unsubscribed") == 1
    assert suppressions.suppressed_keys() == {
        "bounce@example.com",
        "a@example.com",
        "b@example.com",
        "c@example.com",
    }
    assert suppressions.unsuppress(["A@example.com"]) == 1
    reasons = {s.email: s.reason for s in suppressions.suppressed()}
    assert reasons["bounce@example.com"] == "bounced"
    assert reasons["c@example.com"] == "unsubscribed"
