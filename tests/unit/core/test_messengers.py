import pytest

from smtpdesk.core.errors import KnownError
from smtpdesk.core.messengers import list_messengers, resolve_messenger
from smtpdesk.core.settings import ServerSettings


def test_unnamed_servers_pool_and_named_servers_stand_alone() -> None:
    a, b = ServerSettings(host="a"), ServerSettings(host="b")
    named = ServerSettings(host="c", name="bulk")
    off = ServerSettings(host="d", enabled=False)
    messengers = {m.name: m.servers for m in list_messengers([a, named, b, off])}
    assert messengers == {"email": (a, b), "bulk": (named,)}


def test_resolve_refuses_when_nothing_is_enabled() -> None:
    with pytest.raises(KnownError, match="no enabled SMTP server"):
        resolve_messenger([ServerSettings(host="a", enabled=False)])
    with pytest.raises(KnownError, match="no messenger called 'bulk'"):
        resolve_messenger([ServerSettings(host="a")], "bulk")
    assert resolve_messenger([ServerSettings(host="a", name="bulk")], "bulk").name == "bulk"
