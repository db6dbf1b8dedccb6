"""Keeping secrets out of answers and logs.

RPC and service URLs often carry a provider's API key (``https://host/v3/<key>``,
``https://user:pass@host``): what a node shows to others names such a URL by its scheme and host
only. Private keys (32 bytes of hex) never belong in a log line.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_HEX_KEY = re.compile(r"\b(0x)?[0-9a-fA-F]{64}\b")


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: no credentials, path or query. A comma-separated list
    of URLs (a node's RPC endpoints) is redacted URL by URL."""
    if "," in url:
        return ",".join(redact_url(part.strip()) for part in url.split(",") if part.strip())
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<url>"
    if not parts.scheme or not host:
        return "<url>"
    return f"{parts.scheme}://{host}{port}"


def scrub_urls(text: str, *urls: str) -> str:
    """``text`` with every given URL (and its path or credentials alone) replaced by its redacted form;
    an argument may be a comma-separated list of URLs."""
    for url in [part.strip() for listed in urls if listed for part in listed.split(",")]:
        if not url:
            continue
        shown = redact_url(url)
        text = text.replace(url, shown).replace(url.rstrip("/"), shown)
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        secret_parts = [parts.path + ("?" + parts.query if parts.query else ""), parts.path, parts.query]
        if parts.username or parts.password:
            secret_parts.append(parts.netloc.rpartition("@")[0])
        for part in secret_parts:
            if len(part.strip("/")) >= 4:  # a path of a few letters ("/rpc") is no secret; keys are long
                text = text.replace(part, "/<redacted>")
    return text


def redact_keys(text: str) -> str:
    """``text`` with every value that looks like a 32-byte hex key replaced by ``<redacted>``."""
    return _HEX_KEY.sub("<redacted>", text)
