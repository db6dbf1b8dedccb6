"""A fake price source for the devnet and the tests: GET /price/<PAIR> -> {"pair", "price", "at"}.

Prices move slowly around a base (a fraction of a percent over minutes), the same for every reader
at the same second, so honest attesters agree with the performer. Run: python price_source.py --port 0
"""

import argparse
import asyncio
import math
import time

from aiohttp import web

BASES = {"ETH-USD": 3000.0, "BTC-USD": 60000.0, "SOL-USD": 150.0}


def price(pair: str, at: float) -> float:
    return round(BASES[pair] * (1 + 0.002 * math.sin(at / 120)), 2)


async def handle(request: web.Request) -> web.Response:
    pair = request.match_info["pair"].upper()
    if pair not in BASES:
        return web.json_response({"error": f"unknown pair {pair}; known: {', '.join(BASES)}"}, status=404)
    now = time.time()
    return web.json_response({"pair": pair, "price": price(pair, now), "at": int(now)})


async def main(port: int) -> None:
    app = web.Application()
    app.router.add_get("/price/{pair}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"price source listening on http://127.0.0.1:{bound}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=4200)
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        pass
