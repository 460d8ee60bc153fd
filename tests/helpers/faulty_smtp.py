"""A small SMTP server that pipelines as RFC 2920 allows, and misbehaves on request.

aiosmtpd offers neither PIPELINING nor CHUNKING; this one offers either (``extensions``)
and reads commands as they come, so replies to a pipelined group go out together. Faults:
a reply per recipient, for MAIL, DATA (before the content), the end of the content or
BDAT; dropping the connection after the reply to MAIL or after the content; a stall (no
reply ever) after a given command on the first N connections; 354 even when every RCPT
was refused (so the client has to send a lone "."). ``hold_until_last`` keeps every reply
back until the group's DATA or BDAT has arrived: a client that waits for each reply
stalls against it, so a pass proves the group was pipelined.

``reads`` keeps the commands of each read of each connection, which shows what arrived in
one write; ``messages`` what was accepted (envelope and the content as transmitted).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Accepted:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    connection: int
    via: str  # "DATA" or "BDAT"


@dataclass
class Faults:
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> "550 5.1.1 No"
    mail_reply: str | None = None
    mail_replies: list[str] = field(default_factory=list)  # used once each, before mail_reply
    data_reply: str | None = None  # the reply to DATA itself (instead of 354)
    end_replies: list[str] = field(default_factory=list)  # after the content, once each
    bdat_replies: list[str] = field(default_factory=list)  # to BDAT LAST, once each
    drop_after_mail: int = 0  # connections dropped right after replying to MAIL
    drop_after_content: int = 0  # connections dropped once the content has arrived
    stall_after: str = ""  # a command ("MAIL", "RCPT", ...) after which nothing is answered
    stall_connections: int = 0  # how many connections stall
    start_input_always: bool = False  # 354 to DATA even when every RCPT was refused
    data_delay: float = 0.0  # seconds before the reply to DATA


_COMMAND = re.compile(rb"^([A-Za-z]+)\s*(.*)$")
_ADDRESS = re.compile(rb"<([^>]*)>")
_VERB = re.compile(rb"(?mi)^(MAIL|RCPT|DATA|BDAT|RSET|NOOP|QUIT|EHLO)\b")


class FaultySmtp:
    """Listen on 127.0.0.1 (port 0); ``await start()``, ``await stop()``."""

    def __init__(
        self, extensions: tuple[str, ...] = ("PIPELINING",), *, hold_until_last: bool = False
    ) -> None:
        self.extensions = extensions
        self.hold_until_last = hold_until_last
        self.faults = Faults()
        self.messages: list[Accepted] = []
        self.reads: list[list[list[str]]] = []  # per connection, per read: command verbs
        self.chunks: list[list[bytes]] = []  # per connection: the bytes of each read
        self.commands: list[list[str]] = []  # per connection: every command verb in order
        self.connections = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, tls: ssl.SSLContext | None = None) -> FaultySmtp:
        """Listen; with ``tls``, implicit TLS (the handshake before the greeting)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.connections
        self.connections += 1
        self.reads.append([])
        self.chunks.append([])
        self.commands.append([])
        session = _Session(self, index, reader, writer)
        try:
            await session.run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


class _Session:
    def __init__(
        self,
        server: FaultySmtp,
        index: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.faults = server.faults
        self.index = index
        self.reader = reader
        self.writer = writer
        self.buffer = b""
        self.held: list[bytes] = []
        self.reset()

    def reset(self) -> None:
        self.mail_from: str | None = None
        self.rcpts: list[str] = []

    async def run(self) -> None:
        self.writer.write(b"220 faulty.example.test ESMTP\r\n")
        while True:
            line = await self._line()
            if line is None:
                return
            match = _COMMAND.match(line.rstrip(b"\r\n"))
            verb = match.group(1).upper().decode() if match else ""
            argument = match.group(2) if match else b""
            self.server.commands[self.index].append(verb)
            if self._stalled():
                continue  # read on, answer nothing
            if not await self._handle(verb, argument):
                return

    def _stalled(self) -> bool:
        faults = self.faults
        if not faults.stall_after or self.index >= faults.stall_connections:
            return False
        return faults.stall_after in self.server.commands[self.index][:-1]

    async def _line(self) -> bytes | None:
        while b"\n" not in self.buffer:
            chunk = await self.reader.read(65536)
            if not chunk:
                return None
            self._note_read(chunk)
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    async def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise asyncio.IncompleteReadError(self.buffer, count)
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _note_read(self, chunk: bytes) -> None:
        verbs = [m.group(1).decode().upper() for m in _VERB.finditer(chunk)]
        self.server.reads[self.index].append(verbs)
        self.server.chunks[self.index].append(chunk)

    def _reply(self, text: str, *, last: bool = True) -> None:
        self.held.append(text.encode() + b"\r\n")
        if last or not self.server.hold_until_last:
            self.writer.write(b"".join(self.held))
            self.held.clear()

    async def _handle(self, verb: str, argument: bytes) -> bool:
        faults = self.faults
        if verb in ("EHLO", "HELO"):
            lines = ["faulty.example.test", *self.server.extensions]
            text = "\r\n".join(
                f"250{'-' if i < len(lines) - 1 else ' '}{x}" for i, x in enumerate(lines)
            )
            self._reply(text)
        elif verb == "MAIL":
            if faults.mail_replies or faults.mail_reply:
                reply = faults.mail_replies.pop(0) if faults.mail_replies else faults.mail_reply
                self._reply(reply or "", last=False)
            elif self.mail_from is not None:
                self._reply("503 5.5.1 Error: nested MAIL command", last=False)
            else:
                self.mail_from = _address(argument)
                self._reply("250 2.1.0 Ok", last=False)
            if faults.drop_after_mail > 0:
                faults.drop_after_mail -= 1
                self._flush()
                self.writer.transport.abort()
                return False
        elif verb == "RCPT":
            address = _address(argument)
            reply = faults.rcpt_replies.get(address)
            if self.mail_from is None:
                self._reply("503 5.5.1 Error: need MAIL command", last=False)
            elif reply:
                self._reply(reply, last=False)
            else:
                self.rcpts.append(address)
                self._reply("250 2.1.5 Ok", last=False)
        elif verb == "DATA":
            return await self._data()
        elif verb == "BDAT":
            return await self._bdat(argument)
        elif verb == "RSET":
            self.reset()
            self._reply("250 2.0.0 Ok", last=False)
        elif verb == "NOOP":
            self._reply("250 2.0.0 Ok")
        elif verb == "QUIT":
            self._reply("221 2.0.0 Bye")
            await self.writer.drain()
            return False
        else:
            self._reply("502 5.5.2 Error: command not recognized")
        return True

    def _flush(self) -> None:
        if self.held:
            self.writer.write(b"".join(self.held))
            self.held.clear()

    async def _data(self) -> bool:
        faults = self.faults
        if faults.data_delay:
            await asyncio.sleep(faults.data_delay)
        if faults.data_reply:
            self._reply(faults.data_reply)
            return True
        if self.mail_from is None or (not self.rcpts and not faults.start_input_always):
            self._reply(
                "554 5.5.1 Error: no valid recipients" if self.mail_from else "503 5.5.1 need MAIL"
            )
            return True
        self._reply("354 End data with <CR><LF>.<CR><LF>")
        lines = []
        while True:
            line = await self._line()
            if line is None:
                return False
            if line == b".\r\n":
                break
            lines.append(line[1:] if line.startswith(b".") else line)
        return self._end(b"".join(lines), "DATA", faults.end_replies)

    async def _bdat(self, argument: bytes) -> bool:
        size, _, last = argument.partition(b" ")
        content = await self._exactly(int(size))
        assert last.strip().upper() == b"LAST", "this server only takes one BDAT LAST"
        if self.mail_from is None or not self.rcpts:
            self._reply(
                "554 5.5.1 Error: no valid recipients" if self.mail_from else "503 5.5.1 need MAIL"
            )
            return True
        return self._end(content, "BDAT", self.faults.bdat_replies)

    def _end(self, content: bytes, via: str, replies: list[str]) -> bool:
        faults = self.faults
        if faults.drop_after_content > 0:
            faults.drop_after_content -= 1
            self._flush()
            self.writer.transport.abort()
            return False
        if replies:
            self._reply(replies.pop(0))
        elif not self.rcpts:
            self._reply("554 5.5.1 Error: no valid recipients")  # the lone "."
        else:
            self.server.messages.append(
                Accepted(self.mail_from or "", list(self.rcpts), content, self.index, via)
            )
            self._reply("250 2.0.0 Ok: queued")
        self.reset()
        return True


def _address(argument: bytes) -> str:
    match = _ADDRESS.search(argument)
    return match.group(1).decode() if match else ""
