"""Shared steps of the sending-process tests: start, wait for the end, run the CLI elsewhere."""

from __future__ import annotations

import asyncio
import sys

from smtpdesk.core.service.follower import start_sender, wait_sender


async def start(campaign: int) -> int:
    """``start_sender`` off the test's loop (which serves the SMTP server meanwhile)."""
    return await asyncio.to_thread(start_sender, campaign)


async def wait_gone(pid: int, limit: float = 60.0) -> int:
    """Wait for the sending process ``pid`` (started here) to end; its exit code (negative:
    the signal)."""
    code = await asyncio.to_thread(wait_sender, pid, limit)
    assert code is not None, f"the sending process {pid} did not end within {limit} s"
    return code


async def cli(*args: str) -> tuple[int, str, str]:
    """``smtpdesk ARGS`` in a process of its own: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smtpdesk",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
