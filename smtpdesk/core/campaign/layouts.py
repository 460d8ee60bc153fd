"""Saved layouts: the HTML around a campaign's message, with one ``{{ content }}`` slot.

A layout is a name and an HTML page whose ``<style>`` block the pipeline inlines
(:mod:`smtpdesk.core.campaign.pipeline`). ``default`` ships with the app
(``resources/layouts/default.html``: tables for structure, 600 px wide at most, colours
that hold up in dark mode) and cannot be changed or removed; the others live in the
database. A campaign keeps the name it chose and a copy of the layout's HTML, so
editing a layout later never changes a campaign that was already reviewed.

Everything here is blocking SQLite: the GUI calls it through the bridge's threads.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import delete, insert, select, update

from smtpdesk.core.campaign.content import CampaignContent, require_valid
from smtpdesk.core.campaign.pipeline import SLOT, SLOT_HINT, SLOT_MESSAGE
from smtpdesk.core.errors import BadInputError, InvalidSettingsError, NotFoundError
from smtpdesk.core.settings import Problem
from smtpdesk.core.store import Store
from smtpdesk.core.store.schema import layouts
from smtpdesk.resources import resource_path

DEFAULT_LAYOUT = "default"
MAX_NAME = 64
MAX_LAYOUT_BYTES = 200_000
_PARSER = SandboxedEnvironment()


@dataclass(frozen=True)
class Layout:
    name: str
    html: str
    builtin: bool = False
    updated_at: float = 0.0


@functools.cache
def default_layout_html() -> str:
    """The layout shipped with the app."""
    return resource_path("layouts/default.html").read_text(encoding="utf-8")


def default_layout() -> Layout:
    return Layout(DEFAULT_LAYOUT, default_layout_html(), builtin=True)


def validate_layout(name: str, html: str) -> list[Problem]:
    """Every reason ``name`` and ``html`` cannot be saved as a layout."""
    problems = []
    if not name.strip():
        problems.append(Problem("name", "error", "the layout needs a name", "e.g. newsletter"))
    elif name != name.strip() or len(name) > MAX_NAME or not name.isprintable():
        problems.append(
            Problem(
                "name",
                "error",
                f"the name must be one line of at most {MAX_NAME} characters, "
                "without spaces around it",
            )
        )
    elif name.lower() == DEFAULT_LAYOUT:
        problems.append(
            Problem(
                "name",
                "error",
                "'default' is the layout shipped with the app",
                "choose another name; export the default to start from it",
            )
        )
    if len(html.encode("utf-8")) > MAX_LAYOUT_BYTES:
        problems.append(
            Problem("html", "error", f"the layout is larger than {MAX_LAYOUT_BYTES // 1000} KB")
        )
    if len(SLOT.findall(html)) != 1:
        problems.append(Problem("html", "error", SLOT_MESSAGE, SLOT_HINT))
    try:
        _PARSER.parse(html)
    except TemplateSyntaxError as exc:
        problems.append(
            Problem(
                "html",
                "error",
                f"template error on line {exc.lineno}: {exc.message}",
                "check the {{ }} and {% %} tags",
            )
        )
    return problems


def _require_valid(name: str, html: str) -> None:
    problems = validate_layout(name, html)
    if problems:
        raise InvalidSettingsError(
            problems, "The layout is not valid: " + "; ".join(map(str, problems))
        )


class Layouts:
    """The saved layouts of one data folder, the shipped default first."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def all(self) -> list[Layout]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(layouts).order_by(layouts.c.name)).all()
        return [default_layout()] + [Layout(r.name, r.html, False, r.updated_at) for r in rows]

    def get(self, name: str) -> Layout:
        if name == DEFAULT_LAYOUT:
            return default_layout()
        with self.engine.connect() as conn:
            row = conn.execute(select(layouts).where(layouts.c.name == name)).first()
        if row is None:
            raise NotFoundError(
                f"No layout is called {name!r}.", "Run 'smtpdesk template list' to see them."
            )
        return Layout(row.name, row.html, False, row.updated_at)

    def names(self) -> list[str]:
        return [layout.name for layout in self.all()]

    def add(self, name: str, html: str) -> Layout:
        """Save a new layout; refused (nothing written) when invalid or the name is taken."""
        _require_valid(name, html)
        now = time.time()
        with self.engine.begin() as conn:
            taken = conn.execute(select(layouts.c.name).where(layouts.c.name == name)).first()
            if taken is not None:
                raise InvalidSettingsError(
                    [Problem("name", "error", f"a layout is already called {name!r}")],
                    f"A layout is already called {name!r}.",
                )
            conn.execute(
                insert(layouts).values(name=name, html=html, created_at=now, updated_at=now)
            )
        return Layout(name, html, False, now)

    def edit(self, name: str, html: str) -> Layout:
        """Replace a saved layout's HTML (the default cannot be changed)."""
        if name == DEFAULT_LAYOUT:
            _require_valid(name, html)  # names the reserved name
        self.get(name)
        _require_valid(name, html)
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                update(layouts).where(layouts.c.name == name).values(html=html, updated_at=now)
            )
        return Layout(name, html, False, now)

    def rename(self, name: str, new_name: str) -> Layout:
        layout = self.get(name)
        if layout.builtin:
            raise InvalidSettingsError(
                [Problem("name", "error", "the default layout cannot be renamed")],
                "The default layout cannot be renamed.",
            )
        added = self.add(new_name, layout.html)
        self.remove(name)
        return added

    def duplicate(self, name: str, new_name: str) -> Layout:
        return self.add(new_name, self.get(name).html)

    def remove(self, name: str) -> None:
        if name == DEFAULT_LAYOUT:
            raise InvalidSettingsError(
                [Problem("name", "error", "the default layout cannot be removed")],
                "The default layout cannot be removed.",
            )
        with self.engine.begin() as conn:
            gone = conn.execute(delete(layouts).where(layouts.c.name == name)).rowcount
        if not gone:
            raise NotFoundError(
                f"No layout is called {name!r}.", "Run 'smtpdesk template list' to see them."
            )


def resolve_layout(store: Store, name: str, fmt: str) -> tuple[str, str]:
    """The layout a campaign gets: (name, HTML).

    A named layout is looked up; with no name, Markdown gets the default layout and
    HTML or plain text none (an HTML body is usually a whole page already).
    """
    if name:
        layout = Layouts(store).get(name)
        return layout.name, layout.html
    if fmt == "markdown":
        return DEFAULT_LAYOUT, default_layout_html()
    return "", ""


def with_layout(store: Store, content: CampaignContent, name: str) -> CampaignContent:
    """``content`` with the layout it gets (see :func:`resolve_layout`), checked again.

    Raises :class:`NotFoundError` for an unknown name and :class:`ContentError` when the
    content with that layout is not valid; nothing is written.
    """
    if content.format == "text":
        if name:
            raise BadInputError(
                "A plain-text message has no layout.", "Drop --layout, or give an HTML body."
            )
        return replace(content, layout="", layout_html="")
    chosen, html = resolve_layout(store, name, content.format)
    result = replace(content, layout=chosen, layout_html=html)
    require_valid(result)
    return result
