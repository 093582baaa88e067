"""Secrets never shown: credentials in URLs are replaced wherever a URL is displayed."""

from __future__ import annotations

import pytest

from polymon.core.redact import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pw@host:8123/db", "http://***@host:8123/db"),
        ("https://user@host/db", "https://***@host/db"),
        ("https://host/db?user=a&password=b&x=1", "https://host/db?user=***&password=***&x=1"),
        ("wss://host/ws?token=abc", "wss://host/ws?token=***"),
        ("chdb:///var/lib/polymon", "chdb:///var/lib/polymon"),
        ("http://host:8123/db", "http://host:8123/db"),
        ("", ""),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_hides_userinfo_of_urls_inside_messages() -> None:
    message = "storage url 'http://u:s3cret@h:1/db' refused; see http://other/x"
    assert redact_text(message) == "storage url 'http://***@h:1/db' refused; see http://other/x"
