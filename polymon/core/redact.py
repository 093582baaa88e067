"""Redaction of secrets from text that is shown: URLs with credentials in them. Pure."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# Query parameters whose values are credentials (ClickHouse's HTTP interface takes
# `user`/`password`, others `token`, `key`, ...).
_SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:password|passwd|pwd|pass|user|username|token|access_token|api_key|apikey|key"
    r"|secret|signature|sig|auth)=)[^&#]*"
)
_USERINFO_IN_TEXT = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def redact_url(url: str) -> str:
    """`url` with any user:password@ and credential query values replaced by `***`;
    O(len(url)). Text that is not a URL comes back unchanged but for embedded userinfo."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = _SECRET_PARAMS.sub(r"\1***", "?" + parts.query)[1:] if parts.query else ""
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing to hide (and `chdb:///dir` keeps its form)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """`text` with the userinfo of every URL in it replaced by `***` (for error messages that
    quote a URL); O(len(text))."""
    return _SECRET_PARAMS.sub(r"\1***", _USERINFO_IN_TEXT.sub(r"\1***@", text))
