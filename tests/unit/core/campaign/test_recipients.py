"""Recipient files: format detection, line numbers, invalid and duplicate rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.campaign.recipients import (
    RecipientFileError,
    import_file,
    inspect_file,
)
from smtpdesk.core.store import Store


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return Ledger(store)


@pytest.fixture
def campaign(ledger: Ledger) -> int:
    return ledger.create_campaign(
        "c", CampaignContent(subject="s", from_address="me@example.com", text="hi")
    )


def write(tmp_path: Path, data: bytes, name: str = "r.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_utf8_bom_and_semicolons_are_detected(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffE-Mail;Name;Stadt\nanna@example.com;Änne;Köln\n".encode())
    info = inspect_file(path)
    assert info.encoding == "utf-8-sig"
    assert info.delimiter == ";"
    assert info.columns == ("E-Mail", "Name", "Stadt")
    assert info.address_column == "E-Mail"
    assert info.sample == (("anna@example.com", "Änne", "Köln"),)


def test_tab_separated_and_cp1252(tmp_path: Path) -> None:
    path = write(tmp_path, "contact\tname\nx@example.com\tJos\xe9\n".encode("cp1252"))
    info = inspect_file(path)
    assert (info.encoding, info.delimiter) == ("cp1252", "\t")
    assert info.address_column == "contact"  # guessed from the '@' in its values
    assert info.sample[0][1] == "José"


def test_quoted_newlines_keep_line_numbers(tmp_path: Path, ledger: Ledger, campaign: int) -> None:
    data = (
        b"email,note\n"
        b'a@example.com,"two\nlines, and a comma"\n'
        b"not-an-address,x\n"
        b'b@example.com,"say ""hi"""\n'
    )
    report = import_file(ledger, campaign, write(tmp_path, data))
    assert (report.rows, report.valid, report.invalid) == (3, 2, 1)
    assert report.problems[0].line == 4  # the record on lines 2-3 shifts it
    assert report.problems[0].address == "not-an-address"
    rows = ledger.recipients(campaign)
    assert [(r.line, r.email, r.fields) for r in rows] == [
        (2, "a@example.com", {"note": "two\nlines, and a comma"}),
        (5, "b@example.com", {"note": 'say "hi"'}),
    ]


def test_duplicates_are_case_insensitive_and_reported(
    tmp_path: Path, ledger: Ledger, campaign: int
) -> None:
    data = b"email\nA@Example.com\na@example.COM\nb@example.com\n\n"
    report = import_file(ledger, campaign, write(tmp_path, data))
    assert (report.valid, report.duplicates, report.invalid) == (2, 1, 0)
    assert (report.problems[0].line, report.problems[0].kind) == (3, "duplicate")
    # a second import into the same campaign drops what is already there
    again = import_file(
        ledger, campaign, write(tmp_path, b"email\nB@EXAMPLE.com\nc@example.com\n", "more.csv")
    )
    assert (again.valid, again.duplicates) == (1, 1)
    assert ledger.recipient_count(campaign) == 3


@pytest.mark.parametrize(
    "address",
    ["", "no-at-sign", "a@b@example.com", "x@localhost", "space in@example.com", "x@example..com"],
)
def test_bad_addresses_are_kept_out(
    tmp_path: Path, ledger: Ledger, campaign: int, address: str
) -> None:
    report = import_file(ledger, campaign, write(tmp_path, f"email,n\n{address},1\n".encode()))
    assert (report.valid, report.invalid) == (0, 1)
    assert report.problems[0].line == 2
    assert report.problems[0].reason


def test_empty_cells_are_missing_fields_and_extra_cells_refused(
    tmp_path: Path, ledger: Ledger, campaign: int
) -> None:
    data = b"email,name,city\na@example.com,,Paris\nb@example.com,Bo\nc@example.com,C,X,extra\n"
    report = import_file(ledger, campaign, write(tmp_path, data))
    assert report.valid == 2
    assert report.problems[0].line == 4 and "cells" in report.problems[0].reason
    fields = [r.fields for r in ledger.recipients(campaign)]
    assert fields == [{"city": "Paris"}, {"name": "Bo"}]
    assert ledger.campaign(campaign).fields == ("name", "city")


def test_unknown_address_column_is_refused(tmp_path: Path, ledger: Ledger, campaign: int) -> None:
    with pytest.raises(RecipientFileError, match="no column"):
        import_file(ledger, campaign, write(tmp_path, b"email\na@example.com\n"), "mail")


def test_progress_is_reported(tmp_path: Path, ledger: Ledger, campaign: int) -> None:
    rows = "".join(f"u{i}@example.com\n" for i in range(12000))
    seen: list[tuple[int, int, int]] = []
    import_file(
        ledger,
        campaign,
        write(tmp_path, f"email\n{rows}".encode()),
        on_progress=lambda *a: seen.append(a),
    )
    assert seen[-1][0] == 12000 and seen[-1][1] == seen[-1][2]
    assert len(seen) >= 3
