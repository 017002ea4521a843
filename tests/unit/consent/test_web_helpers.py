"""Form parsing (urlencoded, multipart), CORS headers, address masking and the page languages."""

from chalicelib.services.consent import mask_email, mask_phone
from chalicelib.web.cors import cors_headers, preflight_headers
from chalicelib.web.forms import read_form
from chalicelib.web.pages import language, message_page


def test_one_click_bodies_parse_as_forms() -> None:
    assert read_form("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click") == [
        ("List-Unsubscribe", "One-Click")]
    multipart = (b'--xyz\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--xyz--\r\n')
    assert read_form("multipart/form-data; boundary=xyz", multipart) == [("List-Unsubscribe", "One-Click")]


def test_cors_echoes_only_a_configured_origin_and_always_varies_on_it() -> None:
    sites = ("https://www.example.com", "https://shop.example.com")
    assert cors_headers("https://shop.example.com", sites)["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert cors_headers("https://evil.example.net", sites) == {"Vary": "Origin"}
    assert cors_headers(None, sites) == {"Vary": "Origin"}
    assert "Access-Control-Allow-Methods" not in preflight_headers("https://evil.example.net", sites, "POST")


def test_addresses_are_masked_on_pages() -> None:
    assert mask_email("anna@example.com") == "a***@example.com"
    assert mask_phone("+79161234567") == "+7******4567"


def test_pages_speak_the_contacts_language_then_the_browsers() -> None:
    assert language("en-GB") == "en" and language(None, "en-US,en;q=0.9") == "en" and language("de") == "ru"
    assert "Subscription confirmed" in message_page("confirmed", "en")
    assert "<script" not in message_page("invalid", "ru")
