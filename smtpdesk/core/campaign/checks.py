"""What Review says about the message's HTML as one recipient receives it.

Warnings deserve a second look; errors block Send:

- HTML over :data:`CLIP_BYTES` (Gmail clips a message at 102 KB and hides the rest,
  the unsubscribe link included, behind "View entire message");
- an image without ``alt`` text (shown when images are blocked, read by screen readers);
- a link that is not http(s) (``mailto:`` and ``tel:`` are fine), or that points at this
  machine (localhost, 127.0.0.1): it works for the sender only;
- no unsubscribe link in the body although the campaign has an unsubscribe address;
- a remote image on plain http (blocked or flagged by many clients);
- an image read from a file on this computer (an error: no recipient can see it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

CLIP_BYTES = 100_000  # Gmail clips at 102 KB; a little margin for the client's own markup
_LOCAL_HOSTS = {"localhost", "localhost.localdomain", "ip6-localhost"}
_FINE_SCHEMES = {"http", "https", "mailto", "tel"}
SHOWN = 3  # examples named per finding


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Collector(HTMLParser):
    """The images (src, alt or None) and the links (href, text) of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[tuple[str, str | None]] = []
        self.links: list[tuple[str, str]] = []
        self._open: list[list[str]] = []  # text of the <a> elements being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(((values.get("src") or "").strip(), values.get("alt")))
        elif tag == "a" and values.get("href") is not None:
            self._open.append([(values.get("href") or "").strip()])

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open:
            href, *text = self._open.pop()
            self.links.append((href, " ".join("".join(text).split())))

    def handle_data(self, data: str) -> None:
        for link in self._open:
            link.append(data)


def _is_local(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOCAL_HOSTS or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _examples(items: list[str]) -> str:
    shown = ", ".join(repr(i[:80]) for i in items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def local_image(src: str) -> bool:
    """Whether an image's ``src`` names a file on this computer (not a URL, not cid:)."""
    scheme = urlsplit(src).scheme.lower()
    if scheme == "file":
        return True
    if len(scheme) == 1:  # C:\\pictures\\logo.png
        return True
    return bool(src) and not scheme and not src.startswith("//")


def check_html(
    html: str, *, text: str = "", unsubscribe_url: str = "", unsubscribe_mailto: str = ""
) -> Findings:
    """The findings for one recipient's rendered HTML (and text part)."""
    found = Findings()
    size = len(html.encode("utf-8"))
    if size > CLIP_BYTES:
        found.warnings.append(
            f"The HTML is {size / 1000:.0f} KB: Gmail clips messages over 102 KB and hides "
            "the rest (the unsubscribe link too) behind 'View entire message'. Shorten it or "
            "move images and long parts to a web page."
        )
    page = _Collector()
    page.feed(html)
    page.close()
    _image_findings(found, page.images)
    _link_findings(found, page.links)
    if (unsubscribe_url or unsubscribe_mailto) and not _has_unsubscribe(
        page.links, text, unsubscribe_url, unsubscribe_mailto
    ):
        found.warnings.append(
            "The campaign has an unsubscribe address but the message has no unsubscribe "
            "link: add one (e.g. [Unsubscribe](https://…)) so readers need not mark it as spam."
        )
    return found


def _many(items: list[str], one: str, more: str) -> str:
    """``1 image has`` or ``3 images have``: the count with the words that agree with it."""
    return f"{len(items):,} {one if len(items) == 1 else more}"


def _image_findings(found: Findings, images: list[tuple[str, str | None]]) -> None:
    files = [src for src, _ in images if local_image(src)]
    if files:
        found.errors.append(
            f"{_many(files, 'image comes', 'images come')} from files on this computer "
            f"({_examples(files)}); no recipient can see them. Put them on an https address, "
            "or send them inside "
            "the message: 'Send local images inline' (--inline-images), with absolute paths."
        )
    no_alt = [src or "(no src)" for src, alt in images if alt is None]
    if no_alt:
        found.warnings.append(
            f"{_many(no_alt, 'image has', 'images have')} no alt text ({_examples(no_alt)}): "
            "it is shown when "
            'images are blocked and read aloud by screen readers (alt="" for decoration).'
        )
    plain = [src for src, _ in images if urlsplit(src).scheme.lower() == "http"]
    if plain:
        found.warnings.append(
            f"{_many(plain, 'image loads', 'images load')} over plain http "
            f"({_examples(plain)}): many clients "
            "block or flag them. Use https addresses."
        )


def _link_findings(found: Findings, links: list[tuple[str, str]]) -> None:
    odd = []
    local = []
    for href, _ in links:
        if href.startswith("#"):
            continue  # a place in the message itself
        parts = urlsplit(href)
        if parts.scheme.lower() not in _FINE_SCHEMES:
            odd.append(href or "(empty)")
        elif parts.scheme.lower() in ("http", "https") and _is_local(parts.hostname or ""):
            local.append(href)
    if odd:
        found.warnings.append(
            f"{_many(odd, 'link is', 'links are')} not http(s) addresses ({_examples(odd)}): "
            "they do not "
            "open for the recipients. Use full https:// addresses."
        )
    if local:
        found.warnings.append(
            f"{_many(local, 'link points', 'links point')} at this computer "
            f"({_examples(local)}): they work "
            "for you only."
        )


def _has_unsubscribe(links: list[tuple[str, str]], text: str, url: str, mailto: str) -> bool:
    for href, label in links:
        lowered = href.lower()
        if "unsubscribe" in lowered or "unsubscribe" in label.lower():
            return True
        if (url and href == url) or (mailto and lowered == f"mailto:{mailto.lower()}"):
            return True
    if not links and text:  # a plain-text message: the address or the word in it
        lowered = text.lower()
        return "unsubscribe" in lowered or bool(url and url in text)
    return False
