"""Recipient files: detect their format, then stream them into the ledger.

CSV or TSV as spreadsheets write them: UTF-8 with or without a BOM (else UTF-16 with
a BOM, else Windows-1252), a header row, Excel quoting (quoted delimiters, doubled
quotes, line breaks inside quotes). One column is the address; every other column
becomes a template field; an empty cell is left out of the row and renders empty.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from email_validator import EmailNotValidError, validate_email

from smtpdesk.core.campaign.content import ADDRESS_FIELD, CampaignContent
from smtpdesk.core.errors import BadInputError, NotFoundError
from smtpdesk.core.settings import POOL_NAME, normalise_name

if TYPE_CHECKING:
    from smtpdesk.core.campaign.ledger import Ledger

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_BYTES = 64 * 1024
SAMPLE_ROWS = 5
BATCH_ROWS = 5000
# A row that spans this many lines, or reaches the end of the file over UNCLOSED_LINES,
# is a quote left open swallowing the rows after it, not a cell with line breaks.
MAX_ROW_LINES = 100
UNCLOSED_LINES = 10
MAX_PROBLEMS = 10_000  # kept with their line numbers; the counts stay exact beyond
_ADDRESS_NAMES = ("email", "e-mail", "email address", "email_address", "mail", "address")

ProgressCallback = Callable[[int, int, int], None]  # rows read, bytes read, file size


@dataclass(frozen=True)
class FileInfo:
    path: Path
    encoding: str
    delimiter: str
    columns: tuple[str, ...]
    sample: tuple[tuple[str, ...], ...]  # the first rows after the header
    address_column: str | None  # the best guess, None when no column looks like addresses
    size: int


@dataclass(frozen=True)
class RowProblem:
    line: int  # where the row starts in the file (1 is the header)
    address: str
    reason: str
    kind: str  # "invalid" or "duplicate"


@dataclass
class ImportReport:
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    problems: list[RowProblem] = field(default_factory=list)  # the first MAX_PROBLEMS

    def add(self, problem: RowProblem) -> None:
        if problem.kind == "duplicate":
            self.duplicates += 1
        else:
            self.invalid += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


class RecipientFileError(BadInputError):
    """The file cannot be read as recipients."""


def detect_encoding(head: bytes) -> str:
    """utf-8-sig or utf-16 when a BOM says so, utf-8 when the bytes decode, else cp1252."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the sample's rows into the same, largest number of columns."""
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and len(text) >= SAMPLE_BYTES // 2:
        lines = lines[:-1]  # the sample may cut the last line short
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        try:
            sample = csv.reader(io.StringIO("".join(lines), newline=""), delimiter=delimiter)
            rows = [r for r in sample if r][:50]
        except csv.Error:  # the reading proper reports it, with its line
            continue
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(1 for r in rows if len(r) == width)
        score = (consistent if width > 1 else 0, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def guess_address_column(
    columns: tuple[str, ...], sample: tuple[tuple[str, ...], ...]
) -> str | None:
    by_name = {c.strip().lower(): c for c in columns}
    for name in _ADDRESS_NAMES:
        if name in by_name:
            return by_name[name]
    scores = [
        sum(1 for row in sample if i < len(row) and "@" in row[i]) for i in range(len(columns))
    ]
    if scores and max(scores) > 0:
        return columns[scores.index(max(scores))]
    return None


def _open_text(path: Path, encoding: str) -> IO[str]:
    try:
        return path.open(encoding=encoding, newline="", errors="strict")
    except OSError as exc:
        raise RecipientFileError(
            f"{path} cannot be opened: {exc.strerror}.",
            "Check the path and the file's permissions.",
        ) from exc


def inspect_file(path: str | Path) -> FileInfo:
    """Read the head of ``path``: encoding, delimiter, header, sample rows, address column."""
    path = Path(path)
    try:
        with path.open("rb") as raw:
            head = raw.read(SAMPLE_BYTES)
        size = path.stat().st_size
    except OSError as exc:
        raise RecipientFileError(
            f"{path} cannot be read: {exc.strerror}.", "Check the path and the file's permissions."
        ) from exc
    encoding = detect_encoding(head)
    text = head.decode(encoding, errors="ignore")
    delimiter = detect_delimiter(text)
    with _open_text(path, encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        rows: list[tuple[str, ...]] = []
        start = 1
        try:
            while len(rows) <= SAMPLE_ROWS:  # the header and the sample
                start = reader.line_num + 1
                row = next(reader, None)
                if row is None:
                    break
                rows.append(tuple(row))
        except (UnicodeError, csv.Error) as exc:
            raise _unreadable(path, start, exc) from exc
    header = list(rows[0]) if rows else None
    sample = tuple(rows[1:])
    if not header or not any(c.strip() for c in header):
        raise RecipientFileError(
            f"{path} has no header row.", "The first line must name the columns, e.g. email,name."
        )
    columns = tuple(c.strip() for c in header)
    return FileInfo(
        path, encoding, delimiter, columns, sample, guess_address_column(columns, sample), size
    )


def check_address(address: str) -> str:
    """The normalised address, or ValueError with email-validator's reason. No DNS."""
    try:
        return str(validate_email(address, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc


def read_rows(
    info: FileInfo, address_column: str, position: list[int] | None = None
) -> Iterator[tuple[int, str, dict[str, str]]]:
    """Each data row as (line where it starts, raw address, the other non-empty cells).

    ``position[0]``, when given, follows the bytes read (in chunks) for progress bars.
    """
    if address_column not in info.columns:
        raise RecipientFileError(
            f"There is no column {address_column!r}.",
            f"The columns are: {', '.join(info.columns)}.",
        )
    index = info.columns.index(address_column)
    names = [(i, c) for i, c in enumerate(info.columns) if i != index and c and c != ADDRESS_FIELD]
    width = len(info.columns)
    with _open_text(info.path, info.encoding) as handle:
        reader = csv.reader(handle, delimiter=info.delimiter)
        line = 1
        held: tuple[int, int, tuple[int, str, dict[str, str]]] | None = None
        try:
            next(reader, None)
            line = reader.line_num + 1
            for row in reader:
                start, line = line, reader.line_num + 1
                _check_span(info.path, start, line - 1, at_end=False)
                if position is not None and start % 1000 == 0:
                    position[0] = handle.buffer.tell()  # type: ignore[attr-defined]
                if not any(row):
                    continue
                # Held back one row: only the last can be a quote open to the end of the file.
                if held is not None:
                    yield held[2]
                held = (start, line - 1, _row_item(start, row, index, names, width))
        except UnicodeError as exc:  # the decoder reads ahead: find the byte's own line
            raise _unreadable(info.path, _undecodable_line(info) or line, exc) from exc
        except csv.Error as exc:
            raise _unreadable(info.path, line, exc) from exc
        if held is not None:
            _check_span(info.path, held[0], held[1], at_end=True)
            yield held[2]


def _row_item(
    start: int, row: list[str], index: int, names: list[tuple[int, str]], width: int
) -> tuple[int, str, dict[str, str]]:
    if len(row) > width and any(row[width:]):
        return start, "", {"__error__": f"{len(row)} cells, the header has {width}"}
    cells = {c: row[i] for i, c in names if i < len(row) and row[i] != ""}
    return start, row[index].strip() if index < len(row) else "", cells


def _check_span(path: Path, start: int, end: int, *, at_end: bool) -> None:
    """Refuse a row that only a quote never closed can make (it hides the rows after it)."""
    limit = UNCLOSED_LINES if at_end else MAX_ROW_LINES
    if end - start + 1 > limit:
        raise RecipientFileError(
            f'{path}, line {start}: a quote (") is never closed; lines {start} to {end} '
            "would be one cell.",
            "Close the quote, or remove it, and import the file again.",
        )


def _undecodable_line(info: FileInfo) -> int | None:
    """The line holding the first byte that ``info.encoding`` cannot decode."""
    decoder = codecs.getincrementaldecoder(info.encoding)()
    line = 1
    try:
        with info.path.open("rb") as raw:
            for chunk in iter(lambda: raw.read(SAMPLE_BYTES), b""):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    return line + chunk[: max(exc.start, 0)].count(b"\n")
                line += chunk.count(b"\n")
    except OSError:
        return None
    return None


def _unreadable(path: Path, line: int, exc: Exception) -> RecipientFileError:
    """One sentence for what the csv module or the decoder refused, with the line."""
    text = str(exc)
    if "field larger than field limit" in text:
        reason = (
            f"a cell is longer than {csv.field_size_limit() // 1024} KB "
            '(a quote (") left open, or not a CSV file)'
        )
    elif isinstance(exc, UnicodeError):
        reason = "it is not text in UTF-8, UTF-16 or Windows-1252 (a binary file?)"
    elif "new-line character" in text or "line contains NUL" in text:
        reason = "a line break or NUL where none can be (a binary file?)"
    else:
        reason = text
    return RecipientFileError(
        f"{path} cannot be read at line {line}: {reason}.",
        "Save it again as CSV UTF-8 from your spreadsheet.",
    )


def import_file(
    ledger: Ledger,
    campaign_id: int,
    path: str | Path,
    address_column: str | None = None,
    on_progress: ProgressCallback | None = None,
    *,
    info: FileInfo | None = None,
) -> ImportReport:
    """Stream ``path`` into the campaign, keeping invalid and duplicate rows out.

    Blocking (minutes for millions of rows): the GUI calls it in a thread.
    """
    info = info or inspect_file(path)
    column = address_column or info.address_column
    if column is None:
        raise RecipientFileError(
            "No column looks like email addresses.", "Choose the address column."
        )
    seen = dict.fromkeys(ledger.recipient_keys(campaign_id), 0)  # address -> its line
    report = ImportReport()
    batch: list[dict[str, Any]] = []
    position = [0]
    for line, address, cells in read_rows(info, column, position):
        report.rows += 1
        row = _accept(line, address, cells, seen, report)
        if row is not None:
            batch.append(row)
        if len(batch) >= BATCH_ROWS:
            ledger.insert_recipients(campaign_id, batch)
            batch.clear()
            ledger.renew_lease(campaign_id, os.getpid())  # an importing campaign stays ours
            if on_progress is not None:
                on_progress(report.rows, position[0], info.size)
    ledger.insert_recipients(campaign_id, batch)
    ledger.add_fields(campaign_id, [c for c in info.columns if c and c != column])
    if on_progress is not None:
        on_progress(report.rows, info.size, info.size)
    return report


def import_new_campaign(
    ledger: Ledger,
    name: str,
    content: CampaignContent | None,
    path: str | Path,
    address_column: str | None = None,
    on_progress: ProgressCallback | None = None,
    **campaign: Any,
) -> tuple[int, ImportReport]:
    """Create a campaign with the recipients of ``path``: all of it, or nothing.

    Everything that can be checked before writing is (file, column, messenger, content,
    settings). The campaign stays ``importing`` until the last row is in, is deleted if
    the import fails, and is removed at the next start if the process dies meanwhile.
    """
    info = inspect_file(path)
    column = _column(info, address_column)
    if campaign.get("messenger"):
        campaign["messenger"] = _messenger(ledger, campaign["messenger"])
    campaign_id = ledger.create_campaign(name, content, importing=True, **campaign)
    try:
        report = import_file(ledger, campaign_id, path, column, on_progress, info=info)
        if not report.valid:
            raise RecipientFileError(
                f"{info.path} has no valid recipient ({report.invalid} invalid, "
                f"{report.duplicates} duplicates).",
                f"Check the address column ({column}).",
            )
        ledger.finish_import(campaign_id)
    except BaseException:
        with contextlib.suppress(Exception):  # else the next start removes it
            ledger.delete_campaign(campaign_id)
        raise
    return campaign_id, report


def _column(info: FileInfo, chosen: str | None) -> str:
    column = chosen or info.address_column
    if column is None:
        raise RecipientFileError(
            f"No column of {info.path} looks like email addresses.",
            f"Name it with --address-column; the columns are: {', '.join(info.columns)}.",
        )
    if column not in info.columns:
        raise RecipientFileError(
            f"{info.path} has no column {column!r}.",
            f"The columns are: {', '.join(info.columns)}.",
        )
    return column


def _messenger(ledger: Ledger, messenger: str) -> str:
    """The saved spelling of ``messenger`` ('st_plain' is the server saved as 'st-plain')."""
    names = {s.name for s in ledger.store.servers() if s.name} | {POOL_NAME}
    for spelling in (messenger, normalise_name(messenger)):
        if spelling in names:
            return spelling
    raise NotFoundError(
        f"There is no messenger {messenger!r}.", f"The messengers are: {', '.join(sorted(names))}."
    )


def _accept(
    line: int, address: str, cells: dict[str, str], seen: dict[str, int], report: ImportReport
) -> dict[str, Any] | None:
    if "__error__" in cells:
        report.add(RowProblem(line, address, cells["__error__"], "invalid"))
        return None
    if not address:
        report.add(RowProblem(line, address, "the address is empty", "invalid"))
        return None
    try:
        normalised = check_address(address)
    except ValueError as exc:
        report.add(RowProblem(line, address, str(exc), "invalid"))
        return None
    key = normalised.lower()
    if key in seen:
        first = seen[key]
        reason = f"a duplicate of line {first}" if first else "already a recipient of the campaign"
        report.add(RowProblem(line, address, reason, "duplicate"))
        return None
    seen[key] = line
    report.valid += 1
    return {"line": line, "email": normalised, "fields": cells}
