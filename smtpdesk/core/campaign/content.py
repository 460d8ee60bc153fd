"""What a campaign says: sandboxed Jinja2 templates rendered into correct MIME messages.

Templates see the recipient's ``email`` and every other column of the imported file.
An empty cell is not stored; :func:`smtpdesk.core.campaign.review.template_fields` gives
it back as an undefined value, which prints empty and which ``default`` replaces. A name
that is no column fails: :mod:`smtpdesk.core.campaign.review` refuses such a template
before anything is sent; :func:`check_fields` counts the recipients with an empty cell.

Rendering runs under the limits of :mod:`render_limits` (time and size per message),
and what it puts in a header is made safe there: text flattened to one line, values
in the unsubscribe URL percent-encoded (``| safe`` keeps one as it is).
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import html2text
from email_validator import EmailNotValidError, validate_email
from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from markupsafe import Markup

from smtpdesk.core.campaign.mime import (
    FIELD_NAME,
    MimeTemplate,
    UnsafeHeaderError,
    check_header,
    header_text,
)
from smtpdesk.core.campaign.pipeline import (
    compose,
    format_problems,
    inline_css,
    layout_without_slot,
)
from smtpdesk.core.campaign.render_limits import (
    LimitedEnvironment,
    RenderLimitError,
    collect,
    message_limits,
)
from smtpdesk.core.errors import InvalidSettingsError, KnownError
from smtpdesk.core.settings import RESERVED_HEADERS, Problem
from smtpdesk.core.wording import counted

ADDRESS_FIELD = "email"
_GUARD_FILTERS = frozenset({"default", "d"})
_GUARD_TESTS = frozenset({"defined", "undefined", "none"})
_JINJA_RE = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.DOTALL)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~"  # what stays as it is in a URL; the rest is %-encoded
RENDER_THREADS = 4
# A render quicker than this runs on the event loop (issue 13): a typical one takes ~0.1 ms,
# less than handing it to a thread, whose Python then fights the loop for the GIL.
INLINE_RENDER_SECONDS = 0.005


class TemplateError(KnownError):
    """A template that does not compile or cannot be rendered for a recipient."""

    cause = "template_error"


class ContentError(InvalidSettingsError):
    """Content refused by :func:`validate_content`; ``problems`` names each field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(
            problems, "The campaign's content is not valid: " + "; ".join(map(str, problems))
        )
        self.hint = "Correct each field named and try again."


@dataclass(frozen=True)
class CampaignContent:
    """The message, as templates. ``text`` empty: made from ``html``."""

    subject: str
    from_address: str
    from_name: str = ""
    reply_to: str = ""
    html: str = ""
    text: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[str, ...] = ()  # file paths, read once when sending starts
    unsubscribe_mailto: str = ""  # an address, e.g. unsubscribe@example.com
    # may use fields, e.g. https://x.test/u?e={{ email }}; their values are percent-encoded
    # (``{{ link | safe }}`` puts one in as it is, though never a space or a line break)
    unsubscribe_url: str = ""
    # how ``html`` is written: "html", "markdown" (Markdown, Jinja allowed) or "text" (no HTML
    # part: ``text`` is the message); see :mod:`smtpdesk.core.campaign.pipeline`
    format: str = "html"
    layout: str = ""  # the layout's name, for the user; its HTML below is what is sent
    layout_html: str = ""  # the layout as it was when chosen, with its {{ content }} slot
    inline_images: bool = False  # images from local files (absolute paths) sent inline (cid:)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["headers"] = [list(pair) for pair in self.headers]
        data["attachments"] = list(self.attachments)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CampaignContent:
        values = dict(data)
        values["headers"] = tuple((str(k), str(v)) for k, v in values.get("headers", ()))
        values["attachments"] = tuple(str(p) for p in values.get("attachments", ()))
        return cls(**values)

    def templates(self) -> dict[str, str]:
        """Each templated part by name; ``text`` is omitted when it is made from the HTML."""
        parts = {
            "subject": self.subject,
            "html": self.html if self.format != "text" else "",
            "text": self.text,
            "unsubscribe_url": self.unsubscribe_url,
        }
        if self.format != "text" and self.html:
            parts["layout"] = layout_without_slot(self.layout_html)
        parts.update({f"header {name}": value for name, value in self.headers})
        return {name: source for name, source in parts.items() if source}


def validate_content(content: CampaignContent) -> list[Problem]:
    """Every reason ``content`` cannot be sent, by field: the one check of campaign content.

    The ledger refuses such content, the renderer will not compile it and the
    wizard's Content page shows each problem beside its field. No DNS lookups.
    """
    problems: list[Problem] = []
    if not content.subject.strip():
        problems.append(
            Problem("subject", "error", "the subject is required", "e.g. News for {{ name }}")
        )
    problems += _address_problems("from_address", content.from_address, required=True)
    problems += _address_problems("reply_to", content.reply_to)
    problems += _address_problems("unsubscribe_mailto", content.unsubscribe_mailto)
    url = urlsplit(content.unsubscribe_url.strip())
    if content.unsubscribe_url and (url.scheme.lower() not in ("http", "https") or not url.netloc):
        problems.append(
            Problem(
                "unsubscribe_url",
                "error",
                "the unsubscribe URL must be an http(s) address",
                "e.g. https://example.com/unsubscribe?e={{ email }}",
            )
        )
    problems += format_problems(content.format, content.layout_html)
    body = content.html if content.format != "text" else ""
    if not body.strip() and not content.text.strip():
        problems.append(
            Problem("html", "error", "the message has no body", "give an HTML or a plain-text body")
        )
    for name, _ in content.headers:
        if name.lower() in RESERVED_HEADERS:
            problems.append(
                Problem("headers", "error", f"{name} is set by the campaign, not a custom header")
            )
    return problems + _one_line_problems(content)


def _one_line_problems(content: CampaignContent) -> list[Problem]:
    """Header parts whose own text has a line break: it would start another header.

    The addresses (From, Reply-To, unsubscribe mailto) need no such rule: the address
    check refuses every control character.
    """
    problems = []
    lines = {
        "subject": ("subject", content.subject),
        "from_name": ("From name", content.from_name),
        "unsubscribe_url": ("unsubscribe URL", content.unsubscribe_url),
    }
    for name, (label, text) in lines.items():
        if _CONTROL_RE.search(text.replace("\t", " ")):
            problems.append(
                Problem(name, "error", f"the {label} must be one line, without control characters")
            )
    for name, value in content.headers:
        if not FIELD_NAME.fullmatch(name):
            problems.append(
                Problem(
                    "headers",
                    "error",
                    f"{name!r} is not a valid header name",
                    "printable ASCII without spaces or colons, such as X-Campaign",
                )
            )
        if _CONTROL_RE.search(value.replace("\t", " ")):
            problems.append(
                Problem("headers", "error", f"the value of {name[:60]} must be one line")
            )
    return problems


def _address_problems(name: str, address: str, *, required: bool = False) -> list[Problem]:
    label = {"from_address": "From address", "reply_to": "Reply-To"}.get(name, "address")
    if not address.strip():
        if not required:
            return []
        return [Problem(name, "error", f"the {label} is required", "e.g. news@example.com")]
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        hint = "only the address; the name goes in From name" if "<" in address else ""
        return [Problem(name, "error", f"the {label} is not valid: {exc}", hint)]
    return []


def require_valid(content: CampaignContent) -> None:
    """Raise :class:`ContentError` naming every problem :func:`validate_content` finds."""
    problems = [p for p in validate_content(content) if p.severity == "error"]
    if problems:
        raise ContentError(problems)


@dataclass(frozen=True)
class MissingField:
    """A field a template needs that ``count`` recipients lack, the first on ``line``."""

    field: str
    template: str  # which part uses it: subject, html, text, header X-...
    count: int
    first_email: str
    first_line: int

    def __str__(self) -> str:
        return (
            f"{{{{ {self.field} }}}} in the {self.template} is missing for "
            f"{counted(self.count, 'recipient')}, the first being {self.first_email} "
            f"(line {self.first_line})"
        )


@dataclass(frozen=True)
class Preview:
    subject: str
    html: str
    text: str
    message: bytes = field(repr=False)


class _Undefined(StrictUndefined):
    """Fails when printed or used, but may be tested: ``{% if name %}`` is false."""

    def __bool__(self) -> bool:  # type: ignore[override]
        return False


def _environment(autoescape: bool) -> LimitedEnvironment:
    return LimitedEnvironment(
        undefined=_Undefined, autoescape=autoescape, keep_trailing_newline=True
    )


def _url_value(value: Any) -> str:
    """A field's value inside a URL: percent-encoded, unless marked ``| safe``."""
    if isinstance(value, Markup):
        return str(value)
    return quote(str(value), safe="")


_ENVS = {True: _environment(True), False: _environment(False)}
_URL_ENV = LimitedEnvironment(undefined=_Undefined, finalize=_url_value)
# The recipient's own unsubscribe links, which every template may print (issue 12).
LINK_FIELDS = frozenset({"unsubscribe_url", "unsubscribe_mailto"})
# range, lipsum, cycler... and the links: never a missing field
TEMPLATE_GLOBALS = frozenset(_URL_ENV.globals) | LINK_FIELDS


def html_to_text(html: str) -> str:
    """Plain text for the HTML template, keeping its Jinja tags intact."""
    tags: list[str] = []

    def protect(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"ZZJINJA{len(tags) - 1}ZZ"

    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    text = converter.handle(_JINJA_RE.sub(protect, html)).strip() + "\n"
    return re.sub(r"ZZJINJA(\d+)ZZ", lambda m: tags[int(m.group(1))], text)


def required_fields(source: str, *, part: str = "template") -> set[str]:
    """The fields ``source`` uses that every recipient must have.

    Exempt: a field under a ``default`` filter, and every use of a field that the
    template tests (``{% if name %}``, ``{% if name is defined %}``, ``a if name else b``).
    """
    try:
        tree = _ENVS[False].parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"The {part} has a template error on line {exc.lineno}: {exc.message}",
            "Check the {{ }} and {% %} tags.",
        ) from exc
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    defaulted: set[int] = set()
    for node in tree.find_all(nodes.Filter):
        if node.name in _GUARD_FILTERS and isinstance(node.node, nodes.Name):
            defaulted.add(id(node.node))
    tested = {
        name
        for node in tree.find_all((nodes.If, nodes.CondExpr))
        if isinstance(node, nodes.If | nodes.CondExpr)
        for name in _tested_names(node.test)
    }
    return {
        n.name
        for n in tree.find_all(nodes.Name)
        if n.ctx == "load"
        and id(n) not in defaulted
        and n.name not in assigned
        and n.name not in tested
        and n.name not in TEMPLATE_GLOBALS
    }


def _tested_names(test: nodes.Node | None) -> set[str]:
    if isinstance(test, nodes.Name):
        return {test.name}
    if isinstance(test, nodes.Test) and test.name in _GUARD_TESTS:
        return _tested_names(test.node)
    if isinstance(test, nodes.Not):
        return _tested_names(test.node)
    if isinstance(test, nodes.And | nodes.Or):
        return _tested_names(test.left) | _tested_names(test.right)
    return set()


class Renderer:
    """The content compiled once; :meth:`render` makes one recipient's message."""

    # The feedback mailbox's address (issue 12): with a recipient's token, List-Unsubscribe
    # and {{ unsubscribe_mailto }} become mailto:ADDRESS?subject=unsubscribe-TOKEN.
    unsubscribe_address = ""
    # render_async: None until the first render (in a thread) shows how long one takes
    _inline: bool | None = None

    def __init__(self, content: CampaignContent) -> None:
        require_valid(content)  # an empty or broken From would fail deep in the email package
        self.content = content
        composed = compose(content)  # Markdown, layout and CSS inlining: once per campaign
        text_source = composed.text
        self._inline_each = composed.inline_each
        self._subject = self._compile(content.subject, "subject", escape=False)
        html = composed.html
        self._html = self._compile(html, "HTML body", escape=True) if html else None
        self._text = self._compile(text_source, "text body", escape=False)
        self._unsubscribe = self._compile(content.unsubscribe_url, "unsubscribe URL", url=True)
        # No tag (often empty): one URL for everyone, rendered once, not for each message.
        self._same_url = (
            None
            if "{" in content.unsubscribe_url
            else "".join(self._unsubscribe.generate({})).strip()
        )
        self._headers = [
            (n, self._compile(v, f"header {n}", escape=False)) for n, v in content.headers
        ]
        self._sender = Address(header_text(content.from_name), addr_spec=content.from_address)
        self._domain = content.from_address.rpartition("@")[2] or "smtpdesk.invalid"
        self._attachments = [_read_attachment(Path(p)) for p in content.attachments]
        self._images = [(cid, _read_image(Path(p))) for cid, p in composed.images]
        self._mime = MimeTemplate(
            from_name=content.from_name,
            from_address=content.from_address,
            reply_to=content.reply_to,
            attachments=self._attachments,
            related=self._images,
        )

    @staticmethod
    def _compile(source: str, part: str, *, escape: bool = False, url: bool = False) -> Any:
        try:
            return (_URL_ENV if url else _ENVS[escape]).from_string(source)
        except TemplateSyntaxError as exc:
            raise TemplateError(
                f"The {part} has a template error on line {exc.lineno}: {exc.message}",
                "Check the {{ }} and {% %} tags.",
            ) from exc

    def render_parts(self, fields: Mapping[str, Any]) -> tuple[str, str | None, str]:
        """Subject, HTML (or None) and text for one recipient."""
        with _rendering(fields):
            if "unsubscribe_mailto" not in fields:  # a preview: the links without a token
                fields = self.link_fields(fields)
            subject = header_text(collect(self._subject.generate(fields)))
            html = collect(self._html.generate(fields)) if self._html is not None else None
            if html is not None and self._inline_each:
                html = inline_css(html)
            return subject, html, collect(self._text.generate(fields))

    def render(self, fields: Mapping[str, Any], token: str = "") -> EmailMessage:
        """The complete message for the recipient whose fields (with ``email``) are given.

        ``token``: the recipient's signed unsubscribe token (see core/feedback/tokens).

        Raises :class:`TemplateError` (a template fails or breaks a limit) or
        :class:`UnsafeHeaderError` (a header would not be one header line).
        """
        to = str(fields[ADDRESS_FIELD])
        if not to.isascii() or not self.content.from_address.isascii():
            return self.render_standard(fields, token)  # SMTPUTF8: the email package's way
        with _rendering(fields):
            fields = self.link_fields(fields, token)
            subject, html, text = self.render_parts(fields)
            headers = self._extra_headers(fields, token)
        return self._mime.build(to=to, subject=subject, text=text, html=html, headers=headers)

    async def render_async(self, fields: Mapping[str, Any], token: str = "") -> EmailMessage:
        """:meth:`render` without holding the event loop up for long (signals and Pause).

        The first render runs in a worker thread; when it was quick, later ones run on the
        loop, until one takes longer than :data:`INLINE_RENDER_SECONDS`: from then on all
        go to the threads. A template that only some recipients' values make slow can hold
        the loop up once, for at most its time limit (``RENDER_SECONDS``).
        """
        if self._inline:
            started = time.thread_time()  # CPU: not the time another thread held the GIL
            try:
                return self.render(fields, token)
            finally:
                if time.thread_time() - started > INLINE_RENDER_SECONDS:
                    self._inline = False
        loop = asyncio.get_running_loop()
        message, seconds = await loop.run_in_executor(
            _render_pool(), self._timed_render, fields, token
        )
        if self._inline is None:
            self._inline = seconds <= INLINE_RENDER_SECONDS
        return message

    def _timed_render(self, fields: Mapping[str, Any], token: str) -> tuple[EmailMessage, float]:
        started = time.thread_time()  # this thread's CPU: not the time others hold the GIL
        return self.render(fields, token), time.thread_time() - started

    def link_fields(self, fields: Mapping[str, Any], token: str = "") -> dict[str, Any]:
        """``fields`` with ``unsubscribe_url`` and ``unsubscribe_mailto`` (no column wins)."""
        url = self._unsubscribe_url(fields)
        return {
            **fields,
            "unsubscribe_url": quote(url, safe=_URL_SAFE) if url else "",
            "unsubscribe_mailto": self._mailto(token),
        }

    def _unsubscribe_url(self, fields: Mapping[str, Any]) -> str:
        if self._same_url is not None:
            return self._same_url
        return collect(self._unsubscribe.generate(fields)).strip()

    def _mailto(self, token: str) -> str:
        if token and self.unsubscribe_address:
            from smtpdesk.core.feedback.tokens import mailto

            return mailto(self.unsubscribe_address, token)
        address = self.content.unsubscribe_mailto
        return f"mailto:{address}" if address else ""

    def _extra_headers(self, fields: Mapping[str, Any], token: str = "") -> list[tuple[str, str]]:
        extra = []
        unsubscribe = self._unsubscribe_targets(fields, token)
        if unsubscribe:
            extra.append(("List-Unsubscribe", ",\r\n ".join(unsubscribe)))
        if any(t.lower().startswith("<https:") for t in unsubscribe):  # RFC 8058: https only
            extra.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        extra.extend(
            (name, header_text(collect(template.generate(fields))))
            for name, template in self._headers
        )
        return extra

    def _unsubscribe_targets(self, fields: Mapping[str, Any], token: str = "") -> list[str]:
        targets = []
        mailto = self._mailto(token)
        if mailto:
            targets.append(f"<{mailto}>")
        if self.content.unsubscribe_url:
            url = self._unsubscribe_url(fields)
            targets.append(f"<{quote(url, safe=_URL_SAFE)}>")  # no space, break or <> left
        return targets

    def render_standard(self, fields: Mapping[str, Any], token: str = "") -> EmailMessage:
        """The same message built by the ``email`` package (slower; any address)."""
        with _rendering(fields):
            fields = self.link_fields(fields, token)
            subject, html, text = self.render_parts(fields)
            headers = [
                (name, header_text(collect(template.generate(fields))))
                for name, template in self._headers
            ]
            unsubscribe = self._unsubscribe_targets(fields, token)
        msg = EmailMessage()
        _set(msg, "Subject", subject)
        msg["From"] = self._sender
        _set(msg, "To", str(fields[ADDRESS_FIELD]))
        if self.content.reply_to:
            _set(msg, "Reply-To", self.content.reply_to)
        msg["Date"] = formatdate(time.time(), localtime=True)
        msg["Message-ID"] = f"<{uuid.uuid4().hex}@{self._domain}>"
        if unsubscribe:
            _set(msg, "List-Unsubscribe", ", ".join(unsubscribe))
        if any(t.lower().startswith("<https:") for t in unsubscribe):  # RFC 8058: https only
            _set(msg, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        for name, value in headers:
            _set(msg, name, value)
        msg.set_content(text, cte="quoted-printable")
        if html is not None:
            msg.add_alternative(html, subtype="html", cte="quoted-printable")
            *_, html_part = msg.iter_parts()  # the HTML: its images go beside it
            for cid, (filename, data, (maintype, subtype)) in self._images:
                html_part.add_related(
                    data,
                    maintype=maintype,
                    subtype=subtype,
                    cid=f"<{cid}>",
                    filename=filename,
                    disposition="inline",
                )
        for filename, data, (maintype, subtype) in self._attachments:
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        return msg


def _set(msg: EmailMessage, name: str, value: str) -> None:
    """Add a header through the last guard; the ``email`` package's own refusals likewise."""
    check_header(name, value)
    try:
        msg[name] = value
    except (ValueError, HeaderParseError) as exc:
        raise UnsafeHeaderError(name) from exc


@contextlib.contextmanager
def _rendering(fields: Mapping[str, Any]) -> Iterator[None]:
    """One message's limits; any failure of a template becomes a :class:`TemplateError`."""
    try:
        with message_limits():
            yield
    except (TemplateError, UnsafeHeaderError):
        raise
    except RenderLimitError as exc:
        raise TemplateError(
            f"The template cannot be rendered for {fields.get(ADDRESS_FIELD)}: {exc}",
            "Simplify the template: loops, repeats and values must stay small.",
        ) from exc
    except UndefinedError as exc:
        raise TemplateError(
            f"The template cannot be rendered for {fields.get(ADDRESS_FIELD)}: {exc}",
            "Add a default, e.g. {{ name | default('') }}.",
        ) from exc
    except Exception as exc:  # the template's own code failed: OverflowError, ZeroDivision...
        raise TemplateError(
            f"The template cannot be rendered for {fields.get(ADDRESS_FIELD)}: "
            f"{type(exc).__name__}: {exc}",
            "Check the template's expressions for this recipient's values.",
        ) from exc


_POOL: list[ThreadPoolExecutor] = []


def _render_pool() -> ThreadPoolExecutor:
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(RENDER_THREADS, thread_name_prefix="smtpdesk-render"))
    return _POOL[0]


def _read_attachment(path: Path) -> tuple[str, bytes, tuple[str, str]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KnownError(
            f"The attachment {path} cannot be read: {exc.strerror}.",
            "Check that the file exists and is readable.",
        ) from exc
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    maintype, _, subtype = kind.partition("/")
    return path.name, data, (maintype, subtype)


def _read_image(path: Path) -> tuple[str, bytes, tuple[str, str]]:
    """An image the HTML shows from a local file, to send inline."""
    try:
        return _read_attachment(path)
    except KnownError as exc:
        raise KnownError(
            exc.message.replace("The attachment", "The image", 1),
            "Check the path in the <img> tag, or put the image on an https address.",
        ) from exc


def recipient_fields(email: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """What a template sees: the columns, then ``email`` (which no column can override)."""
    return {**fields, ADDRESS_FIELD: email}


def blank_fields(columns: Iterable[str]) -> dict[str, Any]:
    """Each column as an undefined value: what a recipient's empty cell renders as."""
    return {c: Undefined(name=c) for c in columns if c != ADDRESS_FIELD}


def template_fields(
    email: str, fields: Mapping[str, Any], blanks: Mapping[str, Any]
) -> dict[str, Any]:
    """What a template sees for one recipient: ``blanks`` (see :func:`blank_fields`) under
    the recipient's own cells and ``email``."""
    return recipient_fields(email, {**blanks, **fields})


def preview(content: CampaignContent, fields: Mapping[str, Any]) -> Preview:
    """Render one recipient (``fields`` holds ``email``) as it would be sent."""
    renderer = Renderer(content)
    subject, html, text = renderer.render_parts(fields)
    return Preview(subject, html or "", text, renderer.render(fields).as_bytes())


def template_requirements(content: CampaignContent) -> dict[str, set[str]]:
    """Per templated part, the fields it needs from every recipient (``email`` excluded)."""
    parts = content.templates()  # a text made from the HTML needs what the HTML needs
    found = {
        part: required_fields(source, part=part) - {ADDRESS_FIELD} for part, source in parts.items()
    }
    return {part: names for part, names in found.items() if names}


class _RecipientSource(Protocol):
    def field_presence(self, campaign_id: int) -> tuple[int, dict[str, int]]: ...

    def first_lacking(self, campaign_id: int, name: str) -> tuple[str, int]: ...


def check_fields(
    content: CampaignContent, ledger: _RecipientSource, campaign_id: int
) -> list[MissingField]:
    """The fields the templates need that some of the campaign's recipients lack.

    From the per-field counts the import keeps, so it costs no scan of the recipients;
    only a field that is missing looks up the first recipient without it.
    """
    needs = template_requirements(content)
    if not needs:
        return []
    total, present = ledger.field_presence(campaign_id)
    found: list[MissingField] = []
    for part, names in needs.items():
        for name in names:
            lacking = total - present.get(name, 0)
            if lacking > 0:
                email, line = ledger.first_lacking(campaign_id, name)
                found.append(MissingField(name, part, lacking, email, line))
    return sorted(found, key=lambda m: (m.field, m.template))
