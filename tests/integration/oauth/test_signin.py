"""Sign-in, tokens and sending with XOAUTH2 against a local authorization server and aiosmtpd."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme

from smtpdesk.core import secrets
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger
from smtpdesk.core.campaign.progress import Progress
from smtpdesk.core.config_io import export_config
from smtpdesk.core.memory_keyring import MemoryKeyring
from smtpdesk.core.oauth import OAuthError, TokenBroker, grant_of, sign_in, sign_out
from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.smtp import connection
from smtpdesk.core.smtp.pool import ServerPool
from smtpdesk.core.smtp.servertest import test_server as check_server
from smtpdesk.core.smtp.types import SendError
from smtpdesk.core.smtp.xoauth2 import wire_form
from smtpdesk.core.store import Store
from tests.helpers.oauth import (
    ACCOUNT,
    AuthServer,
    XOAuth2Handler,
    oauth_settings_for,
    start_oauth_smtpd,
)
from tests.helpers.smtpd import SmtpdServer
from tests.integration.campaign.helpers import addresses, make_campaign, received


class Browser:
    """The user's browser: follows the authorization address to the loopback redirect."""

    def __init__(self) -> None:
        self.pages: list[str] = []
        self.addresses: list[str] = []

    def __call__(self, url: str) -> bool:
        self.addresses.append(url)
        with urllib.request.urlopen(url, timeout=10) as reply:
            self.pages.append(reply.read().decode())
        return True


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> TokenBroker:
    """A fresh broker, also the one the pool and the server test use."""
    broker = TokenBroker()
    monkeypatch.setattr(connection, "TOKENS", broker)
    monkeypatch.setattr("smtpdesk.core.smtp.servertest.TOKENS", broker)
    return broker


@pytest.fixture
async def smtp_server(
    auth_server: AuthServer, server_cert: trustme.LeafCert, trust_test_ca: Path
) -> SmtpdServer:
    server = await start_oauth_smtpd(auth_server, server_cert)
    yield server
    await server.stop()


def message(to: str = "bob@example.test") -> bytes:
    return (
        f"From: {ACCOUNT}\r\nTo: {to}\r\nSubject: hi\r\n"
        "Date: Tue, 01 Dec 2026 02:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\nHello\r\n"
    ).encode()


async def signed_in(
    settings: ServerSettings, tokens: TokenBroker, browser: Browser | None = None
) -> Browser:
    browser = browser or Browser()
    await sign_in(settings, open_browser=browser, tokens=tokens, limit=20)
    return browser


async def test_sign_in_with_pkce_state_and_loopback_redirect(
    auth_server: AuthServer,
    smtp_server: SmtpdServer,
    tokens: TokenBroker,
    memory_keyring: MemoryKeyring,
) -> None:
    settings = oauth_settings_for(smtp_server, auth_server)
    browser = await signed_in(settings, tokens)

    [address] = browser.addresses
    query = {k: v[0] for k, v in parse_qs(urlsplit(address).query).items()}
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert urlsplit(query["redirect_uri"]).hostname == "127.0.0.1" and query["state"]
    assert "You are signed in" in browser.pages[0]
    assert auth_server.calls["authorize"] == 1 and auth_server.calls["authorize_refused"] == 0
    assert auth_server.calls["token:authorization_code"] == 1

    stored = secrets.get_oauth(settings.uuid, secrets.REFRESH_TOKEN)
    assert stored in auth_server.refresh_tokens
    grant = grant_of(settings.uuid)
    assert grant is not None and grant.account == ACCOUNT
    assert abs(grant.granted_at - time.time()) < 30
    # Only the refresh token, the grant's description: no access token in the keyring.
    assert set(memory_keyring.entries) == {
        ("smtpdesk", f"{settings.uuid}:oauth-refresh-token"),
        ("smtpdesk", f"{settings.uuid}:oauth-grant"),
    }


async def test_a_redirect_with_another_state_is_refused_and_the_wait_goes_on(
    auth_server: AuthServer, smtp_server: SmtpdServer, tokens: TokenBroker
) -> None:
    settings = oauth_settings_for(smtp_server, auth_server)
    refused: list[int] = []

    def forging_browser(url: str) -> bool:
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        try:
            urllib.request.urlopen(f"{redirect}?code=stolen&state=wrong", timeout=10)
        except urllib.error.HTTPError as exc:
            refused.append(exc.code)
        return Browser()(url)

    grant = await sign_in(settings, open_browser=forging_browser, tokens=tokens, limit=20)
    assert refused == [400] and grant.account == ACCOUNT
    assert auth_server.calls["token:authorization_code"] == 1  # "stolen" never reached it


async def test_sign_in_times_out_when_the_browser_never_returns(
    auth_server: AuthServer, smtp_server: SmtpdServer, tokens: TokenBroker
) -> None:
    settings = oauth_settings_for(smtp_server, auth_server)
    shown: list[str] = []
    with pytest.raises(OAuthError, match="not completed within"):
        await sign_in(settings, open_browser=None, on_address=shown.append, limit=0.5)
    assert shown and shown[0].startswith(f"{auth_server.url}/authorize?")
    assert secrets.get_oauth(settings.uuid, secrets.REFRESH_TOKEN) is None


async def test_send_refreshes_before_expiry_and_reuses_no_stale_connection(
    auth_server: AuthServer, smtp_server: SmtpdServer, tokens: TokenBroker
) -> None:
    settings = oauth_settings_for(smtp_server, auth_server, idle_timeout=60)
    await signed_in(settings, tokens)
    pool = ServerPool(settings, None)
    try:
        await pool.send(message(), sender=ACCOUNT, recipients=["bob@example.test"])
        assert auth_server.calls["token:refresh_token"] == 0  # the sign-in's token
        first = tokens._tokens[settings.uuid]
        await asyncio.sleep(max(0.0, first.renew_at - time.time()) + 0.1)
        await pool.send(message(), sender=ACCOUNT, recipients=["carol@example.test"])
    finally:
        await pool.close()
    handler = smtp_server.handler
    assert auth_server.calls["token:refresh_token"] == 1
    assert len(set(handler.tokens_seen)) == 2 and handler.refused == 0
    assert handler.stats.opened == 2  # the first connection was replaced, not reused
    assert handler.stale_mail == 0 and len(smtp_server.messages) == 2
    assert smtp_server.messages[0].login == ACCOUNT


async def test_a_refused_token_is_refreshed_once_and_the_send_succeeds(
    auth_server: AuthServer, smtp_server: SmtpdServer, tokens: TokenBroker
) -> None:
    auth_server.lifetime = 600
    settings = oauth_settings_for(smtp_server, auth_server)
    await signed_in(settings, tokens)
    auth_server.expire_access_tokens()  # the provider ends it early: we cannot know
    pool = ServerPool(settings, None)
    try:
        await pool.send(message(), sender=ACCOUNT, recipients=["bob@example.test"])
    finally:
        await pool.close()
    assert smtp_server.handler.refused == 1
    assert auth_server.calls["token:refresh_token"] == 1 and len(smtp_server.messages) == 1


async def test_a_revoked_grant_ends_in_sign_in_required(
    auth_server: AuthServer, smtp_server: SmtpdServer, tokens: TokenBroker
) -> None:
    settings = oauth_settings_for(smtp_server, auth_server, name="m365")
    await signed_in(settings, tokens)
    auth_server.revoke_all()
    auth_server.expire_access_tokens()
    pool = ServerPool(settings, None)
    try:
        with pytest.raises(SendError) as caught:
            await pool.send(message(), sender=ACCOUNT, recipients=["bob@example.test"])
    finally:
        await pool.close()
    diagnosis = caught.value.diagnosis
    assert diagnosis.cause == "sign_in_required" and not diagnosis.temporary
    assert "Sign-in required" in diagnosis.message and "revoked" in diagnosis.message
    assert "smtpdesk servers login m365" in diagnosis.hints[0]
    assert smtp_server.messages == []

    report = await check_server(settings, None)
    assert [s.name for s in report.steps] == ["OAuth token"]
    assert report.diagnosis is not None and report.diagnosis.cause == "sign_in_required"


async def test_server_test_has_an_oauth_token_step_before_auth(
    auth_server: AuthServer, smtp_server: SmtpdServer, tokens: TokenBroker
) -> None:
    settings = oauth_settings_for(smtp_server, auth_server)
    report = await check_server(settings, None)
    assert report.diagnosis is not None and report.diagnosis.cause == "sign_in_required"
    assert "has not been signed in" in report.diagnosis.message

    await signed_in(settings, tokens)
    tokens.forget(settings.uuid)  # as in a new process: the refresh token is all there is
    report = await check_server(settings, None)
    names = [s.name for s in report.steps]
    assert report.ok, report.diagnosis
    assert names.index("OAuth token") < names.index("AUTH")
    oauth_step = report.steps[names.index("OAuth token")]
    assert "obtained from the provider" in oauth_step.detail and "expires" in oauth_step.detail
    assert report.capabilities["AUTH"] == "XOAUTH2"


async def test_google_334_error_is_decoded_and_explained(
    auth_server: AuthServer, smtp_server: SmtpdServer, tokens: TokenBroker
) -> None:
    # Signed in as alice, but the settings name another mailbox: the server refuses.
    settings = oauth_settings_for(smtp_server, auth_server)
    await signed_in(settings, tokens)
    other = oauth_settings_for(smtp_server, auth_server, uuid=settings.uuid, username="bob@x.test")
    report = await check_server(other, None)
    diagnosis = report.diagnosis
    assert diagnosis is not None and diagnosis.cause == "oauth_token_rejected"
    assert "invalid or has expired" in diagnosis.message
    assert '"status": "401"' in diagnosis.raw and "535" in diagnosis.raw
    assert any("https://mail.google.com/" in hint for hint in diagnosis.hints)


async def test_microsoft_5_7_3_means_smtp_auth_is_disabled_for_the_mailbox(
    auth_server: AuthServer, server_cert: trustme.LeafCert, trust_test_ca: Path, tokens: TokenBroker
) -> None:
    server = await start_oauth_smtpd(auth_server, server_cert, style="microsoft")
    try:
        settings = oauth_settings_for(server, auth_server)
        await signed_in(settings, tokens)
        other = oauth_settings_for(server, auth_server, uuid=settings.uuid, username="b@x.test")
        report = await check_server(other, None)
    finally:
        await server.stop()
    assert report.diagnosis is not None and report.diagnosis.cause == "smtp_auth_disabled"
    assert any("Authenticated SMTP" in hint for hint in report.diagnosis.hints)


async def test_tokens_live_only_in_the_keyring(
    auth_server: AuthServer,
    smtp_server: SmtpdServer,
    tokens: TokenBroker,
    store: Store,
    memory_keyring: MemoryKeyring,
) -> None:
    settings = oauth_settings_for(smtp_server, auth_server)
    store.put_server(settings)
    await signed_in(settings, tokens)
    pool = ServerPool(settings, None)
    try:
        await pool.send(message(), sender=ACCOUNT, recipients=["bob@example.test"])
    finally:
        await pool.close()
    refresh = secrets.get_oauth(settings.uuid, secrets.REFRESH_TOKEN)
    assert refresh
    access = tokens._tokens[settings.uuid].value
    exported = export_config(store)
    assert "oauth_client_id" in exported
    files = [p for p in store.folder.iterdir() if p.name.startswith("smtpdesk.db")]
    assert any(p.name.endswith("-wal") for p in files)
    for secret in (refresh, access):
        assert secret not in exported
        for path in files:
            assert secret.encode() not in path.read_bytes(), path.name
    assert store.server(settings.uuid).oauth_scopes == settings.oauth_scopes


async def test_sign_out_removes_the_keyring_entries(
    auth_server: AuthServer,
    smtp_server: SmtpdServer,
    tokens: TokenBroker,
    memory_keyring: MemoryKeyring,
) -> None:
    settings = oauth_settings_for(smtp_server, auth_server)
    secrets.set_oauth(settings.uuid, secrets.CLIENT_SECRET, "shh")
    await signed_in(settings, tokens)
    sign_out(settings.uuid, tokens)
    assert grant_of(settings.uuid) is None
    assert set(memory_keyring.entries) == {("smtpdesk", f"{settings.uuid}:oauth-client-secret")}
    with pytest.raises(SendError) as caught:
        pool = ServerPool(settings, None)
        try:
            await pool.send(message(), sender=ACCOUNT, recipients=["bob@example.test"])
        finally:
            await pool.close()
    assert caught.value.diagnosis.cause == "sign_in_required"


async def test_a_campaign_across_token_expiries_fails_no_recipient(
    auth_server: AuthServer, smtp_server: SmtpdServer, tokens: TokenBroker, store: Store
) -> None:
    auth_server.lifetime = 2.0  # renewed after 1.5 s: several times during the campaign
    settings = oauth_settings_for(smtp_server, auth_server, idle_timeout=60, max_conns=3)
    store.put_server(settings)
    await signed_in(settings, tokens)
    emails = addresses(60)
    campaign = make_campaign(store, emails, concurrency=3, message_rate=15)
    started = time.monotonic()
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    assert time.monotonic() - started > 3 * auth_server.lifetime / 2
    assert Ledger(store).counts(campaign) == Counts(sent=60)
    assert sorted(received(smtp_server)) == sorted(emails)
    handler = smtp_server.handler
    assert handler.refused == 0 and handler.stale_mail == 0
    assert auth_server.calls["token:refresh_token"] >= 2
    assert len(set(handler.tokens_seen)) == auth_server.calls["token:refresh_token"] + 1


async def test_a_campaign_whose_grant_was_revoked_reports_sign_in_required(
    auth_server: AuthServer, smtp_server: SmtpdServer, tokens: TokenBroker, store: Store
) -> None:
    settings = oauth_settings_for(smtp_server, auth_server)
    store.put_server(settings)
    await signed_in(settings, tokens)
    auth_server.revoke_all()
    tokens.forget(settings.uuid)
    campaign = make_campaign(store, addresses(5), concurrency=1)
    seen: list[Progress] = []
    state = await CampaignRunner(store, campaign, on_progress=seen.append).run()
    assert smtp_server.messages == []
    # A server-wide cause: the campaign pauses with it instead of failing every recipient.
    assert state == CampaignState.PAUSED and "Sign-in required" in seen[-1].pause_reason
    assert Ledger(store).counts(campaign) == Counts(pending=5)
    last = seen[-1].servers[0].last_error
    assert last is not None and last.cause == "sign_in_required"
    assert "smtpdesk servers login" in last.hints[0]


async def test_microsoft_redirects_to_localhost(
    auth_server: AuthServer, smtp_server: SmtpdServer, tokens: TokenBroker
) -> None:
    # The built-in provider with its endpoints pointed here: the redirect Entra expects.
    settings = oauth_settings_for(smtp_server, auth_server, oauth_provider="microsoft")
    browser = await signed_in(settings, tokens)
    query = parse_qs(urlsplit(browser.addresses[0]).query)
    assert query["redirect_uri"][0].startswith("http://localhost:")
    assert "You are signed in" in browser.pages[0]


def test_token_endpoint_failures_are_explained(auth_server: AuthServer, refused_port: int) -> None:
    from smtpdesk.core.oauth import client
    from smtpdesk.core.oauth.providers import Endpoints
    from smtpdesk.core.settings import OAuthProvider

    offline = Endpoints(OAuthProvider.CUSTOM, "", f"http://127.0.0.1:{refused_port}/token", ())
    with pytest.raises(OAuthError) as caught:
        client.refresh(offline, "id", None, "rt", timeout=5)
    assert caught.value.temporary and "Cannot reach" in caught.value.message
    wrong = Endpoints(OAuthProvider.CUSTOM, "", f"{auth_server.url}/nothing-here", ())
    with pytest.raises(OAuthError) as caught:
        client.refresh(wrong, "id", None, "rt", timeout=5)
    assert caught.value.message == "The sign-in provider refused the token request: not_found."
    assert not caught.value.temporary
    token = Endpoints(OAuthProvider.CUSTOM, "", f"{auth_server.url}/token", ())
    with pytest.raises(OAuthError, match="invalid_client"):
        client.refresh(token, "someone-else", None, "rt", timeout=5)


async def test_a_server_quoting_the_xoauth2_line_never_gets_the_token_into_the_ledger(
    auth_server: AuthServer,
    server_cert: trustme.LeafCert,
    trust_test_ca: Path,
    tokens: TokenBroker,
    store: Store,
) -> None:
    """The AUTH line (base64) and the bearer token, echoed in a refusal, are masked in the
    diagnosis, the stored pause reason and every stored error."""
    server = await start_oauth_smtpd(auth_server, server_cert, style="echo")
    try:
        settings = oauth_settings_for(server, auth_server)
        await signed_in(settings, tokens)
        other = oauth_settings_for(server, auth_server, uuid=settings.uuid, username="b@x.test")
        store.put_server(other)
        report = await check_server(other, None)
        campaign = make_campaign(store, addresses(3), concurrency=1)
        seen: list[Progress] = []
        state = await CampaignRunner(store, campaign, on_progress=seen.append).run()
    finally:
        await server.stop()
    handler = server.handler
    assert isinstance(handler, XOAuth2Handler) and handler.refused >= 2 and handler.tokens_seen
    assert state == CampaignState.PAUSED
    stored = Ledger(store).campaign(campaign)
    assert report.diagnosis is not None
    shown = [
        report.diagnosis.message,
        report.diagnosis.raw,
        stored.pause_reason,
        seen[-1].pause_reason,
        *(e.message + e.raw for s in seen[-1].servers if (e := s.last_error) is not None),
        *(r.error for r in Ledger(store).recipients(campaign)),
    ]
    assert "535 5.7.8 Refused" in report.diagnosis.raw  # the server's words are kept
    assert "***" in report.diagnosis.raw
    for token in set(handler.tokens_seen):
        line = wire_form("b@x.test", token)
        for text in shown:
            assert token not in text and line not in text, text
