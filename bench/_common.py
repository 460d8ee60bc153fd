"""What the benchmarks share: free ports on 127.0.0.1 and Postfix's smtp-sink as a peer."""

from __future__ import annotations

import socket
import subprocess
import time


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
