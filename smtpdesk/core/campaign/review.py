"""Before a campaign starts: the template check, one render of every recipient, the figures.

The wizard's Review page, ``smtpdesk campaign create`` and the engine's last check
before sending all use this module, so they agree on what blocks a campaign.

A field is a column of the recipient file (or ``email``). A template that uses a
name that is no column cannot be sent: it names the field, the columns and a close
match (``name`` for ``Name``). An empty cell is not a missing field: it prints
empty, and ``{{ name | default("friend") }}`` replaces it.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

from smtpdesk.core.campaign.checks import check_html
from smtpdesk.core.campaign.content import (
    ADDRESS_FIELD,
    LINK_FIELDS,
    CampaignContent,
    Renderer,
    TemplateError,
    check_fields,
    required_fields,
)
from smtpdesk.core.campaign.content import (
    blank_fields as blank_fields,  # re-exported: they live in content.py for the workers
)
from smtpdesk.core.campaign.content import (
    template_fields as template_fields,
)
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.errors import KnownError
from smtpdesk.core.settings import POOL_NAME, ServerSettings
from smtpdesk.core.store import Store
from smtpdesk.core.wording import counted

SHOWN_ERRORS = 5
SYSTEMATIC_IN_A_ROW = 3  # this many recipients in a row fail to render: stop, it is the template
SYSTEMATIC_TOTAL = 20  # or this many in all
_PARSER = SandboxedEnvironment()
_PART_LABELS = {
    "subject": "subject",
    "html": "HTML body",
    "text": "text body",
    "unsubscribe_url": "unsubscribe address",
    "layout": "layout",
}


@dataclass(frozen=True)
class FieldProblem:
    """A template field that is no column of the recipient file."""

    field: str
    parts: tuple[str, ...]  # where it is used: "subject", "HTML body", "header X-Id"...
    columns: tuple[str, ...]  # the fields that exist, ``email`` first
    close: str = ""  # the column it most likely means, "" when none is close
    guarded: bool = False  # only used under ``default`` or an ``if``: it renders, but empty

    @property
    def severity(self) -> str:
        return "warning" if self.guarded else "error"

    def __str__(self) -> str:
        where = " and ".join(
            [", ".join(self.parts[:-1]), self.parts[-1]] if self.parts[1:] else self.parts
        )
        close = f" Did you mean {{{{ {self.close} }}}}?" if self.close else ""
        effect = " It always renders its default." if self.guarded else ""
        return (
            f"{{{{ {self.field} }}}} in the {where} is not a column of the recipient file."
            f"{close}{effect} The fields are: {', '.join(self.columns)}."
        )


def close_match(name: str, columns: Iterable[str]) -> str:
    """The column ``name`` most likely means: the same letters in another case, else difflib's."""
    columns = list(columns)
    for column in columns:
        if column.lower() == name.lower():
            return column
    by_lower = {c.lower(): c for c in columns}
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.7)
    return by_lower[found[0]] if found else ""


def part_label(part: str) -> str:
    return _PART_LABELS.get(part, part)


def field_problems(content: CampaignContent, columns: Iterable[str]) -> list[FieldProblem]:
    """Every field the templates use that is not among ``columns`` (``email`` always is).

    Raises :class:`TemplateError` when a template does not compile.
    """
    fields = (ADDRESS_FIELD, *[c for c in columns if c != ADDRESS_FIELD])
    known = set(fields) | LINK_FIELDS  # the unsubscribe links every template may print
    used: dict[str, list[str]] = {}
    required: set[str] = set()
    for part, source in content.templates().items():
        try:
            names = meta.find_undeclared_variables(_PARSER.parse(source))
        except TemplateSyntaxError as exc:
            raise TemplateError(
                f"The {part_label(part)} has a template error on line {exc.lineno}: {exc.message}",
                "Check the {{ }} and {% %} tags.",
            ) from exc
        for name in sorted(names - known):
            used.setdefault(name, []).append(part_label(part))
        required |= required_fields(source, part=part_label(part))
    return [
        FieldProblem(name, tuple(parts), fields, close_match(name, fields), name not in required)
        for name, parts in sorted(used.items(), key=lambda item: item[0].lower())
    ]


def campaign_columns(ledger: Ledger, campaign_id: int) -> tuple[str, ...]:
    """The campaign's fields: its file's columns, and any field a recipient carries."""
    stored = ledger.campaign(campaign_id).fields
    _, present = ledger.field_presence(campaign_id)
    return (*stored, *sorted(n for n in present if n not in stored))


class RenderProgress:
    """Shared with the thread that renders: how far it is, and a way to stop it."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0
        self.stop = threading.Event()


@dataclass
class RenderCheck:
    """How many recipients' messages rendered, and the first errors (with their line)."""

    total: int = 0
    rendered: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)
    systematic: str = ""  # the first error, when so many failed that the render stopped
    in_a_row: bool = False  # it stopped on failures in a row (else on their total)

    def __str__(self) -> str:
        text = f"{self.rendered:,} of {self.total:,} rendered, {self.errors:,} errors"
        if self.systematic:
            text += f"; stopped after {self.errors:,} errors{' in a row' if self.in_a_row else ''}"
        return text


class RenderStopped(Exception):
    """The render was stopped through :attr:`RenderProgress.stop`."""


def render_all(
    ledger: Ledger,
    campaign_id: int,
    content: CampaignContent,
    columns: Iterable[str],
    progress: RenderProgress | None = None,
) -> RenderCheck:
    """Render every recipient's message once, as the engine will. Blocking: use a thread.

    Stops after :data:`SYSTEMATIC_IN_A_ROW` failures in a row or :data:`SYSTEMATIC_TOTAL`
    in all (``systematic`` then holds the first error): a runaway template costs up to the
    render time limit per recipient, and its first error already says what to change.
    Raises what :class:`Renderer` raises for the content as a whole (a template that
    does not compile, an unreadable attachment).
    """
    progress = progress or RenderProgress()
    renderer = Renderer(content)
    blanks = blank_fields(columns)
    check = RenderCheck(total=ledger.recipient_count(campaign_id))
    progress.total = check.total
    in_a_row = 0
    for line, email, cells in ledger.iter_fields(campaign_id):
        if progress.stop.is_set():
            raise RenderStopped()
        progress.done += 1
        try:
            renderer.render(template_fields(email, cells, blanks))
            check.rendered += 1
            in_a_row = 0
            continue
        except (KnownError, ValueError) as exc:
            check.errors += 1
            in_a_row += 1
            if len(check.samples) < SHOWN_ERRORS:
                reason = exc.message if isinstance(exc, KnownError) else str(exc)
                check.samples.append(f"line {line} ({email}): {reason}")
        if in_a_row >= SYSTEMATIC_IN_A_ROW or check.errors >= SYSTEMATIC_TOTAL:
            check.systematic, check.in_a_row = check.samples[0], in_a_row >= SYSTEMATIC_IN_A_ROW
            break  # each failure may cost the whole render time limit: the template is wrong
    return check


@dataclass
class Review:
    """What Review shows; ``errors`` block Send, ``warnings`` deserve a second look."""

    recipients: int
    seconds: float
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fields: list[FieldProblem] = field(default_factory=list)
    rendered: RenderCheck | None = None
    subject: str = ""  # the first recipient's subject, rendered ("" if it cannot be)
    rate: float = 0.0  # messages/s the servers allow (``effective_rate``)
    concurrency: int = 0  # messages at a time the servers allow (0: not asked)

    @property
    def ready(self) -> bool:
        return not self.errors and self.recipients > 0


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def effective_rate(rate: float, servers: list[ServerSettings]) -> float:
    """The campaign's rate, capped by the servers' own per-second limits when all have one."""
    caps = [s.max_per_second for s in servers]
    if servers and all(c is not None for c in caps):
        return min(rate, sum(c for c in caps if c is not None))
    return rate


def effective_concurrency(concurrency: int, servers: list[ServerSettings]) -> int:
    """The campaign's messages at a time, capped by its servers' connections together."""
    if servers:
        return min(concurrency, sum(s.max_conns for s in servers))
    return concurrency


def review(
    store: Store,
    campaign_id: int,
    content: CampaignContent,
    messenger: str,
    rate: float,
    progress: RenderProgress | None = None,
    *,
    render: bool = True,
    concurrency: int = 0,
) -> Review:
    """Everything Review says about a campaign. Blocking (renders every recipient): a thread.

    ``render=False`` skips the render of every recipient (the CLI's quick check).
    """
    ledger = Ledger(store)
    total = ledger.recipient_count(campaign_id)
    servers = store.servers()
    chosen = [s for s in servers if s.enabled and (s.name or POOL_NAME) == messenger]
    allowed = effective_rate(rate, chosen)
    result = Review(total, total / max(allowed, 1e-9), rate=allowed)
    result.concurrency = effective_concurrency(concurrency, chosen) if concurrency else 0
    _server_findings(result, servers, chosen, messenger, total)
    if not total:
        result.errors.append("The campaign has no recipients.")
    columns = campaign_columns(ledger, campaign_id)
    try:
        result.fields = field_problems(content, columns)
    except KnownError as exc:
        result.errors.append(exc.message)
        return result
    for problem in result.fields:
        (result.warnings if problem.guarded else result.errors).append(str(problem))
    result.warnings += _empty_cells(content, ledger, campaign_id, columns)
    _message_findings(result, content, ledger, campaign_id, columns)
    if render and not result.errors:
        try:
            result.rendered = render_all(ledger, campaign_id, content, columns, progress)
        except KnownError as exc:
            result.errors.append(exc.message)
            return result
        if result.rendered.systematic:
            result.errors.append(
                f"Rendering stopped after {result.rendered.errors:,} recipients could not be "
                "rendered: the template seems to fail for every recipient. The first: "
                f"{result.rendered.systematic}"
            )
        elif result.rendered.errors:
            first = "; ".join(result.rendered.samples)
            result.errors.append(
                f"{counted(result.rendered.errors, 'recipient')} cannot be rendered: {first}"
            )
    return result


def _message_findings(
    result: Review,
    content: CampaignContent,
    ledger: Ledger,
    campaign_id: int,
    columns: tuple[str, ...],
) -> None:
    """Size, images, links and the unsubscribe link of the first recipient's message."""
    first = next(iter(ledger.iter_fields(campaign_id, page=1)), None)
    if first is None:
        return
    try:
        result.subject, html, text = Renderer(content).render_parts(
            template_fields(first[1], first[2], blank_fields(columns))
        )
    except KnownError:
        return  # the render of every recipient says why
    found = check_html(
        html or "",
        text=text,
        unsubscribe_url=content.unsubscribe_url,
        unsubscribe_mailto=content.unsubscribe_mailto,
    )
    result.errors += found.errors
    result.warnings += found.warnings


def _server_findings(
    result: Review,
    servers: list[ServerSettings],
    chosen: list[ServerSettings],
    messenger: str,
    total: int,
) -> None:
    if not chosen:
        result.errors.append(
            f"The messenger {messenger} has no enabled server: choose another one on "
            "Delivery, or enable a server in the Servers tab."
        )
    for s in servers:
        if not s.enabled and (s.name or POOL_NAME) == messenger:
            result.warnings.append(f"{s.label} is disabled and will not send.")
    for s in chosen:
        if s.max_per_day is not None and total > s.max_per_day:
            result.warnings.append(
                f"{s.label} allows {s.max_per_day:,} messages a day; the "
                f"campaign has {total:,} recipients."
            )


def _empty_cells(
    content: CampaignContent, ledger: Ledger, campaign_id: int, columns: tuple[str, ...]
) -> list[str]:
    """Fields some recipients left empty: they render empty, which may be meant."""
    return [
        f"{{{{ {m.field} }}}} in the {part_label(m.template)} is empty for "
        f"{counted(m.count, 'recipient')} (the first: {m.first_email}, line {m.first_line}); "
        "it renders empty. "
        "A default fills it, e.g. {{ "
        f"{m.field}"
        ' | default("friend") }}.'
        for m in check_fields(content, ledger, campaign_id)
        if m.field in columns
    ]


def start_problem(store: Store, campaign_id: int) -> str:
    """Why the stored campaign cannot start ("" when it can), without rendering everyone."""
    ledger = Ledger(store)
    campaign = ledger.campaign(campaign_id)
    found = review(
        store,
        campaign_id,
        campaign.content,
        campaign.messenger,
        campaign.message_rate,
        render=False,
    )
    return " ".join(found.errors)
