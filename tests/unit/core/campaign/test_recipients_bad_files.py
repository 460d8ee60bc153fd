"""Recipient files that are broken or not CSV at all: one clear error with its line.

And the property: any bytes give counts that add up to the rows read, or a
RecipientFileError, never another exception.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.campaign.recipients import RecipientFileError, import_file, inspect_file
from smtpdesk.core.store import Store, open_store


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return Ledger(store)


@pytest.fixture
def campaign(ledger: Ledger) -> int:
    return ledger.create_campaign("c", CampaignContent("s", "me@example.com", text="hi"))


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "people.csv"
    path.write_bytes(data)
    return path


def rows(count: int, start: int = 0) -> bytes:
    return b"".join(b"p%d@example.com,name %d\n" % (i, i) for i in range(start, start + count))


def test_a_quote_never_closed_is_reported_at_its_line(
    tmp_path: Path, ledger: Ledger, campaign: int
) -> None:
    # Row 52 opens a quote: before, rows 52-100 became one cell and were never sent.
    data = b"email,name\n" + rows(50) + b'late@example.com,"Smith\n' + rows(48, 100)
    with pytest.raises(RecipientFileError, match=r"line 52: a quote .* never closed"):
        import_file(ledger, campaign, write(tmp_path, data))


def test_a_quoted_cell_with_a_few_line_breaks_is_still_fine(
    tmp_path: Path, ledger: Ledger, campaign: int
) -> None:
    data = b'email,note\nann@example.com,"one\ntwo\nthree"\nbob@example.com,x\n'
    report = import_file(ledger, campaign, write(tmp_path, data))
    assert (report.rows, report.valid) == (2, 2)


def test_a_huge_line_is_one_clear_error(tmp_path: Path, ledger: Ledger, campaign: int) -> None:
    data = b"email,name\nann@example.com,ok\nbob@example.com," + b"x" * 2_000_000 + b"\n"
    with pytest.raises(RecipientFileError, match=r"line 3: a cell is longer than"):
        import_file(ledger, campaign, write(tmp_path, data))


def test_a_huge_line_in_the_sample_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecipientFileError, match=r"line 2: a cell is longer than"):
        inspect_file(write(tmp_path, b"email\n" + b"x" * 2_000_000 + b"\n"))


@pytest.mark.parametrize(
    "data",
    [
        b"email,name\n\x81\x8d\x8f\x90\x9d\n",  # bytes Windows-1252 leaves undefined
        b"\xff\xfee\x00m\x00\x00\xd8\n\x00",  # UTF-16 with a lone surrogate
        b'email,name\na@example.com,"b\rc\r\nd@example.com,e\n',  # a bare CR in a quoted cell
        b"\x00\x01\x02email\r\x00,\n\r\r\x00",
    ],
)
def test_binary_or_broken_files_never_raise_anything_else(
    tmp_path: Path, ledger: Ledger, campaign: int, data: bytes
) -> None:
    try:
        report = import_file(ledger, campaign, write(tmp_path, data), "email")
    except RecipientFileError as exc:
        assert "\n" not in str(exc)
    else:
        assert report.valid + report.invalid + report.duplicates == report.rows


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.lists(
            st.sampled_from(
                [
                    b"email",
                    b",",
                    b";",
                    b"\t",
                    b'"',
                    b"\n",
                    b"\r",
                    b"\r\n",
                    b"\x00",
                    b"\xff",
                    b"a@example.com",
                    b"A@EXAMPLE.COM",
                    b"b@example.com",
                    b"@",
                    b"\xc3\xa9",
                    b" ",
                ]
            ),
            max_size=60,
        ).map(b"".join),
    )
)
def test_any_bytes_give_counts_that_add_up_or_a_clear_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.csv"
        path.write_bytes(data)
        store = open_store(Path(folder) / "data")
        try:
            ledger = Ledger(store)
            campaign = ledger.create_campaign("c", None)
            try:
                report = import_file(ledger, campaign, path)
            except RecipientFileError as exc:
                assert str(exc).strip() and "\n" not in exc.message
                return
            assert report.valid + report.invalid + report.duplicates == report.rows
            assert ledger.recipient_count(campaign) == report.valid
        finally:
            store.close()
