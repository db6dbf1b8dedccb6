"""A small blocking HTTP helper of the devnet's tools (the workload, the chaos runs)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def post_json(url: str, body: dict, timeout: float = 60.0) -> tuple[int, dict]:
    """POST a JSON body to a REST endpoint (a performer's trigger); (HTTP status, parsed answer)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
