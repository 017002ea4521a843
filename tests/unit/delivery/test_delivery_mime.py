import email
from email.policy import default as default_policy

import pytest

from chalicelib.delivery.email import OutboundEmail, build_mime, email_tags, encode_address

URL = "https://api.shop.example/v1/unsubscribe?token=k1." + "A" * 700


def message(**overrides) -> OutboundEmail:
    fields = {
        "touch_id": "t-1",
        "contact_id": "c-1",
        "chain": "welcome",
        "step": 1,
        "to": "anna@example.com",
        "from_address": "Магазин «Ромашка» <news@shop.example>",
        "reply_to": None,
        "subject": "Анна, " + "очень длинная тема письма " * 6,
        "preheader": "Скидки <только> сегодня & завтра",
        "html": '<html><head></head><body class="x"><p>Привет</p></body></html>',
        "text": "Привет\nвторая строка\n",
        "marketing": True,
        "unsubscribe_url": URL,
    }
    return OutboundEmail(**(fields | overrides))


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=default_policy)


def test_mime_is_7bit_crlf_and_round_trips():
    raw = build_mime(message())
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    mime = parsed(raw)
    assert mime.get_content_type() == "multipart/alternative"
    assert mime["Subject"] == message().subject
    assert mime["From"].addresses[0].display_name == "Магазин «Ромашка»"
    assert mime.get_body(("plain",)).get_content() == "Привет\nвторая строка\n"
    html = mime.get_body(("html",)).get_content()
    assert html.startswith('<html><head></head><body class="x"><div style="display:none')
    assert "Скидки &lt;только&gt; сегодня &amp; завтра</div><p>Привет</p>" in html


def test_header_lines_stay_within_rfc5322_limits_and_the_url_is_not_folded():
    lines = build_mime(message()).split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    assert f"List-Unsubscribe: <{URL}>".encode() in lines
    head = lines[: lines.index(b"")]
    assert all(len(line) <= 78 for line in head if not line.startswith(b"List-Unsubscribe:"))


def test_mime_is_deterministic():
    assert build_mime(message()) == build_mime(message())


def test_no_preheader_leaves_html_untouched():
    html = parsed(build_mime(message(preheader=""))).get_body(("html",)).get_content()
    assert html == message().html


def test_idn_domains_become_punycode_and_non_ascii_local_parts_are_refused():
    assert encode_address("anna@пример.рф") == "anna@xn--e1afmkfd.xn--p1ai"
    with pytest.raises(ValueError, match="deliverable"):
        encode_address("анна@example.com")
    with pytest.raises(ValueError, match="deliverable"):
        encode_address("not an address")


def test_tags_are_sanitised_and_empty_ones_left_out():
    tags = email_tags(message(touch_id="welcome#2026-03-05T09:00", chain=None, step=0))
    assert tags == [
        {"Name": "touch_id", "Value": "welcome_2026-03-05T09_00"},
        {"Name": "contact_id", "Value": "c-1"},
        {"Name": "step", "Value": "0"},
    ]


def test_long_ascii_subject_is_folded_and_reads_back_whole():
    subject = "Your weekly picks: " + "great deals on shoes and bags " * 8
    raw = build_mime(message(subject=subject))
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(line) <= 78 for line in head if not line.startswith(b"List-Unsubscribe:"))
    assert parsed(raw)["Subject"] == subject


@pytest.mark.parametrize("url", ["https://x.example/u?t=a b", "https://x.example/u>", 'https://x.example/"'])
def test_unsubscribe_url_that_would_break_the_header_is_refused(url):
    with pytest.raises(ValueError, match="unsubscribe_url"):
        message(unsubscribe_url=url)
