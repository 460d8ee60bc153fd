"""Review's checks of the message as received: size, images, links, the unsubscribe link."""

from __future__ import annotations

from smtpdesk.core.campaign.checks import CLIP_BYTES, check_html, local_image


def test_a_clean_message_has_no_findings() -> None:
    html = (
        '<p><img src="https://cdn.example.com/logo.png" alt="Logo"></p>'
        '<p><a href="https://example.com/">site</a> <a href="mailto:hi@example.com">mail</a>'
        ' <a href="#top">top</a></p>'
        '<p><a href="https://example.com/u?e=a">Unsubscribe</a></p>'
    )
    found = check_html(html, unsubscribe_url="https://example.com/u?e=a")
    assert found.errors == [] and found.warnings == []


def test_html_over_the_gmail_clip_is_warned() -> None:
    found = check_html("<p>" + "x" * (CLIP_BYTES + 1) + "</p>")
    assert len(found.warnings) == 1 and "102 KB" in found.warnings[0]
    assert check_html("<p>" + "x" * (CLIP_BYTES - 100) + "</p>").warnings == []


def test_images_without_alt_are_warned_but_empty_alt_is_fine() -> None:
    found = check_html(
        '<img src="https://x.example/a.png"><img src="https://x.example/b.png" alt="">'
    )
    assert len(found.warnings) == 1
    assert "1 image has no alt text" in found.warnings[0] and "a.png" in found.warnings[0]


def test_links_not_http_or_to_this_machine_are_warned() -> None:
    html = (
        '<a href="javascript:alert(1)">a</a><a href="file:///etc/passwd">b</a>'
        '<a href="page.html">c</a><a href="http://localhost:8000/x">d</a>'
        '<a href="https://127.0.0.1/y">e</a><a href="https://[::1]/z">f</a>'
    )
    found = check_html(html)
    odd, local = found.warnings
    assert odd.startswith("3 links are not http(s)") and "javascript:alert(1)" in odd
    assert local.startswith("3 links point at this computer")


def test_a_missing_unsubscribe_link_is_warned_only_when_the_campaign_has_one() -> None:
    html = '<p><a href="https://example.com/">site</a></p>'
    assert check_html(html).warnings == []
    found = check_html(html, unsubscribe_mailto="leave@example.com")
    assert len(found.warnings) == 1 and "no unsubscribe link" in found.warnings[0]
    linked = '<a href="mailto:Leave@example.com">stop these</a>'
    assert check_html(linked, unsubscribe_mailto="leave@example.com").warnings == []


def test_a_plain_text_message_may_name_the_unsubscribe_address() -> None:
    url = "https://example.com/u?e=a"
    assert check_html("", text=f"Leave: {url}", unsubscribe_url=url).warnings == []
    assert check_html("", text="Bye", unsubscribe_url=url).warnings != []


def test_remote_images_on_plain_http_are_warned() -> None:
    found = check_html('<img alt="x" src="http://cdn.example.com/a.png">')
    assert len(found.warnings) == 1 and "plain http" in found.warnings[0]


def test_images_from_local_files_are_refused() -> None:
    html = (
        '<img alt="a" src="file:///home/me/logo.png"><img alt="b" src="images/b.png">'
        '<img alt="c" src="C:\\pics\\c.png"><img alt="d" src="cid:logo">'
        '<img alt="e" src="https://x.example/e.png">'
    )
    found = check_html(html)
    assert len(found.errors) == 1
    assert found.errors[0].startswith("3 images come from files on this computer")
    assert "cid:logo" not in found.errors[0]


def test_local_image_tells_files_from_urls() -> None:
    assert local_image("/home/me/a.png") and local_image("a.png") and local_image("D:/a.png")
    assert not local_image("https://x/a.png") and not local_image("//cdn.x/a.png")
    assert not local_image("cid:a") and not local_image("data:image/png;base64,AA")
