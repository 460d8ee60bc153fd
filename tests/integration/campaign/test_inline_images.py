"""Images from local files: sent inline (cid:, multipart/related) when asked, else refused."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from smtpdesk.cli import main
from smtpdesk.core.campaign.checks import check_html
from smtpdesk.core.campaign.content import CampaignContent, Renderer
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.errors import KnownError
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import open_store

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
FIELDS = {"email": "ann@example.com", "name": "Ann"}


@pytest.fixture
def logo(tmp_path: Path) -> Path:
    path = tmp_path / "logo.png"
    path.write_bytes(PNG)
    return path


def content_with(src: str, **changes: object) -> CampaignContent:
    values: dict[str, object] = {
        "subject": "Hi",
        "from_address": "news@example.com",
        "html": f'<p><img alt="Logo" src="{src}"> Hello {{{{ name }}}}</p>',
        "inline_images": True,
        **changes,
    }
    return CampaignContent(**values)  # type: ignore[arg-type]


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _related(message: EmailMessage) -> tuple[str, EmailMessage]:
    body = message.get_body(("html",))
    assert body is not None
    html = body.get_content()
    images = [p for p in message.walk() if p["Content-ID"]]
    assert len(images) == 1
    return html, images[0]


@pytest.mark.parametrize("as_url", [False, True])
def test_a_local_image_travels_inline_on_both_message_paths(logo: Path, as_url: bool) -> None:
    src = logo.as_uri() if as_url else str(logo)
    renderer = Renderer(content_with(src, attachments=(str(logo),)))
    fast = parsed(renderer.render(FIELDS).wire)
    standard = parsed(renderer.render_standard(FIELDS).as_bytes())
    for message in (fast, standard):
        html, image = _related(message)
        cid = str(image["Content-ID"]).strip("<>")
        assert f'src="cid:{cid}"' in html and str(logo) not in html
        assert image.get_content() == PNG
        assert image.get_content_disposition() == "inline"
        kinds = [p.get_content_type() for p in message.walk()]
        assert kinds[:5] == [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "multipart/related",
            "text/html",
        ]
        assert message.get_content_type() == "multipart/mixed"  # the attachment is still there
    assert check_html(_related(fast)[0]).errors == []


def test_without_being_asked_a_local_image_is_refused_with_the_way_out(logo: Path) -> None:
    shown = Renderer(content_with(str(logo), inline_images=False)).render_parts(FIELDS)[1]
    assert shown is not None and str(logo) in shown
    (error,) = check_html(shown).errors
    assert "from files on this computer" in error and "--inline-images" in error


def test_a_relative_path_cannot_go_inline_and_is_still_refused() -> None:
    shown = Renderer(content_with("images/logo.png")).render_parts(FIELDS)[1]
    assert shown is not None and 'src="images/logo.png"' in shown
    assert check_html(shown).errors


def test_a_missing_image_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KnownError) as caught:
        Renderer(content_with(str(tmp_path / "gone.png")))
    assert caught.value.message.startswith(f"The image {tmp_path / 'gone.png'} cannot be read")


def test_campaign_create_inline_images_flag(
    data_dir: Path, tmp_path: Path, logo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(data_dir)
    save_server(store, {"host": "smtp.example.com", "auth_protocol": "none"})
    store.close()
    people = tmp_path / "people.csv"
    people.write_text("email,name\nann@example.com,Ann\n", encoding="utf-8")
    body = tmp_path / "body.html"
    body.write_text(f'<p><img alt="Logo" src="{logo}"> Hi {{{{ name }}}}</p>', encoding="utf-8")
    argv = [
        "campaign",
        "create",
        "--name",
        "Logo",
        "--recipients",
        str(people),
        "--subject",
        "Hi",
        "--from",
        "news@example.com",
        "--html-file",
        str(body),
    ]
    assert main(argv) == 1  # created as a draft that cannot be sent
    refused = capsys.readouterr().err
    assert "from files on this computer" in refused
    assert main([*argv, "--inline-images"]) == 0
    out, err = capsys.readouterr()
    assert "from files on this computer" not in err
    store = open_store(data_dir)
    try:
        assert Ledger(store).campaign(int(out.split()[-1])).content.inline_images
    finally:
        store.close()
