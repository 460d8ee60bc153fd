"""An SMTP sink on 127.0.0.1 that notes when each message arrived (the server's view of a rate).

Usage: python bench/_stamp_sink.py PORT OUT_FILE   (prints "ready"; on SIGTERM writes one
``time.time()`` a line to OUT_FILE: the moment each message's final "." arrived).
It offers PIPELINING (not CHUNKING), accepts everything and runs in its own process, so its
clock readings do not wait for the sender's event loop. A provider counting "messages a
second" sees the same moment: the end of the data, when it accepts the message.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

EHLO = b"250-sink.example.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100000000\r\n"
REPLIES = {b"MAIL": b"250 2.1.0 Ok\r\n", b"RCPT": b"250 2.1.5 Ok\r\n", b"RSET": b"250 2.0.0 Ok\r\n"}


class _Session(asyncio.Protocol):
    def __init__(self, stamps: list[float]) -> None:
        self.stamps = stamps
        self.buffer = b""
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink.example.test ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        out = []
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    keep = max(0, len(self.buffer) - 4)  # the end mark may straddle reads
                    self.buffer = self.buffer[keep:]
                    break
                self.stamps.append(time.time())
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                out.append(b"250 2.0.0 Ok: queued\r\n")
                continue
            line, sep, rest = self.buffer.partition(b"\r\n")
            if not sep:
                break
            self.buffer = rest
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                out.append(EHLO if verb == b"EHLO" else b"250 sink.example.test\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.buffer = b"\r\n" + self.buffer  # so an empty body still ends at "\r\n.\r\n"
                out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                out.append(b"221 2.0.0 Bye\r\n")
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            else:
                out.append(REPLIES.get(verb, b"250 2.0.0 Ok\r\n"))
        if out:
            self.transport.write(b"".join(out))


async def _serve(port: int) -> list[float]:
    stamps: list[float] = []
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    server = await loop.create_server(lambda: _Session(stamps), "127.0.0.1", port, backlog=256)
    print("ready", flush=True)
    await done.wait()
    server.close()
    return stamps


if __name__ == "__main__":
    arrived = asyncio.run(_serve(int(sys.argv[1])))
    Path(sys.argv[2]).write_text("".join(f"{t:.6f}\n" for t in arrived))
