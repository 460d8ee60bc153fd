"""What the benchmarks share: free ports on 127.0.0.1, Postfix's smtp-sink as a peer, its
smtp-source as the yardstick, a delaying proxy and the server settings that reach them."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smtpdesk.core.settings import AuthProtocol, ServerSettings, TlsType

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


def start(cmd: list[str], port: int) -> subprocess.Popen[bytes]:
    """Run ``cmd`` (a server) quietly and wait until it listens on ``port``."""
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port)
    return process


def start_sink(port: int) -> subprocess.Popen[bytes]:
    """Postfix's smtp-sink on 127.0.0.1:``port``, accepting everything (backlog 256)."""
    return start(["smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "256"], port)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)


def local_server(port: int, conns: int, **overrides: Any) -> ServerSettings:
    """Plain SMTP to 127.0.0.1:``port`` (no TLS, no login) with ``conns`` connections."""
    settings = ServerSettings(
        host="127.0.0.1",
        port=port,
        tls_type=TlsType.NONE,
        auth_protocol=AuthProtocol.NONE,
        max_conns=conns,
        hello_hostname="bench.example.test",
        wait_timeout=60,
    )
    return dataclasses.replace(settings, **overrides)


def source_rate(port: int, conns: int, count: int) -> float:
    """Messages a second for ``smtp-source`` sending ``count`` ~2 KB messages on ``conns``."""
    started = time.perf_counter()
    subprocess.run(
        [
            *("smtp-source", "-d", "-s", str(conns), "-m", str(count), "-l", "2000", "-f"),
            *("news@example.test", "-t", "reader@example.test", f"127.0.0.1:{port}"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return count / (time.perf_counter() - started)


@contextlib.contextmanager
def delayed(target: int, delay_ms: int) -> Iterator[int]:
    """A port whose traffic bench/_proxy.py passes to ``target``, ``delay_ms`` each way."""
    port = free_port()
    proxy = start(
        [sys.executable, str(HERE / "_proxy.py"), str(port), str(target), str(delay_ms)], port
    )
    try:
        yield port
    finally:
        stop(proxy)
