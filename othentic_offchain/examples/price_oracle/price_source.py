"""A local price source for the price-oracle example: prices that drift, no internet.

    python -m othentic_offchain.examples.price_oracle.price_source --port 4200
    GET /price/ETH-USD  ->  {"pair": "ETH-USD", "price": "3150.42", "timestamp": 1764080000}
    GET /price/DOGE-USD ->  404 {"error": "unknown_pair", "message": "unknown pair DOGE-USD; known: [...]"}

Every refusal, an unknown route or method included, is JSON ``{"error", "message"}``.

The price is a smooth function of time (two slow sine waves around a base price), so two
observations a moment apart differ by far less than a percent, as two honest exchanges would,
while the price still moves over minutes. Each pair has its own base and phase.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from decimal import ROUND_HALF_EVEN, Decimal

from aiohttp import web

from othentic_offchain.avs.runner import serve
from othentic_offchain.httpguard import json_errors

BASES = {"ETH-USD": 3150.0, "BTC-USD": 97000.0, "SOL-USD": 240.0}


def price_at(pair: str, at: float) -> Decimal:
    base = BASES.get(pair)
    if base is None:
        raise KeyError(pair)
    phase = sum(pair.encode()) % 97
    wave = 0.03 * math.sin(2 * math.pi * (at + phase) / 600) + 0.004 * math.sin(2 * math.pi * (at + phase) / 37)
    return Decimal(repr(base * (1 + wave))).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def build_app(clock=time.time) -> web.Application:
    async def price(request: web.Request) -> web.Response:
        pair = request.match_info["pair"].upper()
        now = clock()
        try:
            value = price_at(pair, now)
        except KeyError:
            message = f"unknown pair {pair}; known: {sorted(BASES)}"
            return web.json_response({"error": "unknown_pair", "message": message}, status=404)
        return web.json_response({"pair": pair, "price": str(value), "timestamp": int(now)})

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "pairs": sorted(BASES)})

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/price/{pair}", price)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve drifting prices for the price-oracle example.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4200)
    args = parser.parse_args()

    def ready(url: str) -> None:  # the bound port when --port 0
        print(f"price source listening on {url}", flush=True)

    try:
        asyncio.run(serve(build_app(), args.host, args.port, ready=ready))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
