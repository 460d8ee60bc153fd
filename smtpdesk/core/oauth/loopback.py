"""The redirect of a desktop sign-in: a one-shot HTTP listener on 127.0.0.1 (RFC 8252 §7.3).

It listens on a free port, answers the browser's request to ``/`` with a friendly page,
and hands the query's ``code`` to the waiting sign-in only when ``state`` matches (a
request with another ``state`` is answered 400 and ignored: it is not our browser's).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from smtpdesk.core.oauth.errors import OAuthError

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>smtpdesk</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32em;margin:4em auto;color:#222}}
h1{{font-size:1.4em}}</style></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""


@dataclass(frozen=True)
class Redirect:
    """What the provider sent back: a code, or an error it explains."""

    code: str = ""
    error: str = ""
    error_description: str = ""


class LoopbackReceiver:
    """Listens on 127.0.0.1 and a free port until the redirect with ``state`` arrives."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.port = 0
        self._servers: list[asyncio.Server] = []
        self._result: asyncio.Future[Redirect] | None = None

    async def start(self, *, also_ipv6: bool = False) -> None:
        """Listen on 127.0.0.1 and a free port; ``also_ipv6``: on [::1] too, same port, when
        it is free (a browser may try ``localhost`` there first)."""
        self._result = asyncio.get_running_loop().create_future()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._servers.append(server)
        self.port = int(server.sockets[0].getsockname()[1])
        if also_ipv6:
            with contextlib.suppress(OSError):
                self._servers.append(await asyncio.start_server(self._serve, "::1", self.port))

    async def wait(self, limit: float) -> Redirect:
        assert self._result is not None, "start() first"
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(self._result)
        except TimeoutError:
            minutes = f"{limit / 60:g} minutes" if limit >= 60 else f"{limit:g} s"
            raise OAuthError(
                f"The sign-in was not completed within {minutes}.",
                "Start the sign-in again and finish it in the browser.",
            ) from None

    async def close(self) -> None:
        for server in self._servers:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request = await reader.readuntil(b"\r\n\r\n")
            status, page = self._answer(request.split(b"\r\n", 1)[0].decode("latin-1"))
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            status, page = "400 Bad Request", _page("Bad request", "")
        body = page.encode()
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
            "Connection: close\r\n\r\n"
        )
        with contextlib.suppress(OSError):
            writer.write(head.encode() + body)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

    def _answer(self, request_line: str) -> tuple[str, str]:
        parts = request_line.split(" ")
        if len(parts) != 3 or parts[0] != "GET":
            return "405 Method Not Allowed", _page("Not here", "")
        target = urlsplit(parts[1])
        if target.path != "/":
            return "404 Not Found", _page("Not here", "")
        query = {k: v[0] for k, v in parse_qs(target.query).items()}
        if query.get("state") != self.state:
            return "400 Bad Request", _page(
                "This sign-in is not the one smtpdesk is waiting for",
                "Start the sign-in again from smtpdesk.",
            )
        redirect = Redirect(
            query.get("code", ""), query.get("error", ""), query.get("error_description", "")
        )
        if self._result is not None and not self._result.done():
            self._result.set_result(redirect)
        if redirect.code:
            return "200 OK", _page(
                "You are signed in",
                "smtpdesk received the sign-in. You can close this tab and return to smtpdesk.",
            )
        return "200 OK", _page(
            "The sign-in did not complete",
            f"The provider said: {redirect.error_description or redirect.error or 'no code'}. "
            "You can close this tab; smtpdesk shows what to do next.",
        )


def _page(title: str, text: str) -> str:
    return _PAGE.format(title=html.escape(title), text=html.escape(text))
