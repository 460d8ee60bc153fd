import pytest

from smtpdesk.core.errors import NotFoundError
from smtpdesk.core.presets import PRESETS, get_preset
from smtpdesk.core.settings import parse_server


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.key)
def test_every_preset_fills_valid_settings(preset) -> None:
    data = preset.fill()
    if not data["host"]:
        data["host"] = "smtp.example.com"  # the custom preset leaves the host to the user
    if data["auth_protocol"] == "xoauth2":  # the user's own client ID and mailbox
        data.update(username="me@example.com", oauth_client_id="my-client-id")
    assert parse_server(data).errors == []


def test_sendgrid_username_and_ses_region() -> None:
    assert get_preset("sendgrid").fill()["username"] == "apikey"
    ses = get_preset("ses").fill("eu-west-1")
    assert ses["host"] == "email-smtp.eu-west-1.amazonaws.com"
    assert (ses["max_per_second"], ses["max_per_day"]) == (1, 200)
    with pytest.raises(NotFoundError):
        get_preset("ses").fill("mars-1")
    assert get_preset("gmail").fill()["max_per_day"] == 500
