"""The proof client and fetch_proof against real servers on 127.0.0.1: honest, lying, slow, absent."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multiformats import CID, multihash

from othentic_offchain.proofs import (
    CHUNK_SIZE,
    CidMismatch,
    LocalProofStore,
    ProofError,
    ProofNotFound,
    ProofStoreClient,
    ProofStoreUnavailable,
    ProofTooLarge,
    UnsupportedCid,
    build_proof_app,
    compute_cid,
    compute_cid_v0,
    fetch_proof,
)

HELLO = b"hello world\n"
HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_V1_RAW = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


@pytest.fixture
def store(tmp_path):
    return LocalProofStore(tmp_path / "store", max_size=4096, durable=False)


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/")).rstrip("/")
    finally:
        await server.close()


def gateway_app(files: dict[str, bytes]) -> web.Application:
    """A gateway that serves ``files`` by the CID text it was given, honest or not."""

    async def get(request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if cid not in files:
            return web.json_response({"message": "no such block"}, status=404)
        return web.Response(body=files[cid], content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/ipfs/{cid}", get)
    return app


def honest_gateway(*contents: bytes) -> web.Application:
    files = {}
    for content in contents:
        files[compute_cid(content)] = content
        files[compute_cid_v0(content)] = content
    return gateway_app(files)


def lying_gateway(cids: list[str], forged: bytes = b"forged proof") -> web.Application:
    return gateway_app({cid: forged for cid in cids})


def lying_uploader(answer_cid: str) -> web.Application:
    async def post(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"cid": answer_cid, "size": 0}, status=201)

    app = web.Application()
    app.router.add_post("/proofs", post)
    return app


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- ProofStoreClient against the real proof server -----------------------------------------------

def test_put_then_get_round_trips_through_the_proof_server(store):
    async def main():
        async with serving(build_proof_app(store)) as url:
            async with ProofStoreClient(url, timeout=5) as client:
                cid = await client.put(HELLO)
                return cid, await client.get(cid), await client.get(HELLO_V0), await client.health()

    cid, by_raw, by_v0, health = asyncio.run(main())
    assert cid == HELLO_V1_RAW and by_raw == by_v0 == HELLO
    assert health["status"] == "ok"


def test_client_without_a_context_manager_opens_and_closes_a_session_per_call(store):
    async def main():
        async with serving(build_proof_app(store)) as url:
            client = ProofStoreClient(url)
            cid = await client.put(b"one-off")
            return await client.get(cid)

    assert asyncio.run(main()) == b"one-off"


def test_client_uses_a_session_it_is_given_and_leaves_it_open(store):
    async def main():
        async with serving(build_proof_app(store)) as url, aiohttp.ClientSession() as session:
            async with ProofStoreClient(url, session=session) as client:
                await client.put(HELLO)
            assert not session.closed

    asyncio.run(main())


def test_get_of_a_cid_the_server_lacks_raises_proof_not_found(store):
    async def main():
        async with serving(build_proof_app(store)) as url:
            await ProofStoreClient(url).get(HELLO_V1_RAW)

    with pytest.raises(ProofNotFound, match=HELLO_V1_RAW):
        asyncio.run(main())


def test_get_detects_a_server_that_returns_other_bytes():
    async def main():
        async with serving(lying_gateway([HELLO_V1_RAW, HELLO_V0])) as url:
            client = ProofStoreClient(url)
            for cid in (HELLO_V1_RAW, HELLO_V0):
                with pytest.raises(CidMismatch, match="forged|not"):
                    await client.get(cid)

    asyncio.run(main())


def test_put_detects_a_server_that_names_the_proof_with_another_cid():
    async def main():
        async with serving(lying_uploader(compute_cid(b"something else"))) as url:
            await ProofStoreClient(url).put(HELLO)

    with pytest.raises(CidMismatch, match=HELLO_V1_RAW):
        asyncio.run(main())


def test_put_detects_a_server_that_answers_garbage_instead_of_a_cid():
    async def main():
        async with serving(lying_uploader("not a cid")) as url:
            await ProofStoreClient(url).put(HELLO)

    with pytest.raises(CidMismatch):
        asyncio.run(main())


def test_put_over_the_servers_limit_raises_proof_too_large_with_its_limit(tmp_path):
    small = LocalProofStore(tmp_path, max_size=100, durable=False)

    async def main():
        async with serving(build_proof_app(small)) as url:
            await ProofStoreClient(url).put(b"p" * 500)

    with pytest.raises(ProofTooLarge) as info:
        asyncio.run(main())
    assert (info.value.size, info.value.limit) == (500, 100)


def test_put_over_the_clients_own_limit_is_refused_without_sending():
    with pytest.raises(ProofTooLarge):
        asyncio.run(ProofStoreClient(closed_port_url(), max_size=10).put(b"q" * 11))


def test_get_refuses_a_response_larger_than_the_limit():
    async def main():
        async with serving(lying_gateway([HELLO_V1_RAW], forged=b"\0" * 100_000)) as url:
            await ProofStoreClient(url, max_size=1000).get(HELLO_V1_RAW)

    with pytest.raises(ProofTooLarge, match="1000"):
        asyncio.run(main())


def test_unreachable_server_raises_proof_store_unavailable():
    url = closed_port_url()
    with pytest.raises(ProofStoreUnavailable, match="127.0.0.1"):
        asyncio.run(ProofStoreClient(url, timeout=2).get(HELLO_V1_RAW))
    with pytest.raises(ProofStoreUnavailable):
        asyncio.run(ProofStoreClient(url, timeout=2).put(HELLO))


def test_server_error_raises_proof_store_unavailable():
    async def broken(request):
        return web.json_response({"message": "database on fire"}, status=503)

    app = web.Application()
    app.router.add_get("/ipfs/{cid}", broken)

    async def main():
        async with serving(app) as url:
            await ProofStoreClient(url).get(HELLO_V1_RAW)

    with pytest.raises(ProofStoreUnavailable, match="database on fire"):
        asyncio.run(main())


def test_a_server_that_never_answers_times_out_as_unavailable():
    release = None

    async def stall(request):
        await release.wait()
        return web.Response(body=HELLO)

    app = web.Application()
    app.router.add_get("/ipfs/{cid}", stall)

    async def main():
        nonlocal release
        release = asyncio.Event()
        async with serving(app) as url:
            started = time.monotonic()
            try:
                with pytest.raises(ProofStoreUnavailable, match="Timeout"):
                    await ProofStoreClient(url, timeout=0.3).get(HELLO_V1_RAW)
            finally:
                release.set()
            return time.monotonic() - started

    assert asyncio.run(main()) < 3


@pytest.mark.parametrize("timeout", [0, -1, None])
def test_a_timeout_is_always_required(timeout):
    with pytest.raises(ValueError, match="timeout"):
        ProofStoreClient("http://127.0.0.1:1", timeout=timeout)
    with pytest.raises(ValueError, match="timeout"):
        asyncio.run(fetch_proof(HELLO_V1_RAW, ["http://127.0.0.1:1"], timeout=timeout))


# --- fetch_proof -------------------------------------------------------------------------------

def test_fetch_proof_reads_the_local_store_without_touching_gateways(store):
    store.put(HELLO)
    dead = closed_port_url()
    assert asyncio.run(fetch_proof(f"ipfs://{HELLO_V0}", [dead], store=store)) == HELLO


def test_fetch_proof_falls_back_to_a_gateway_when_the_store_lacks_the_proof(store):
    async def main():
        async with serving(honest_gateway(HELLO)) as gateway:
            return await fetch_proof(HELLO_V0, [gateway], store=store)

    assert asyncio.run(main()) == HELLO


def test_fetch_proof_skips_a_lying_gateway_and_takes_the_proof_from_an_honest_one():
    async def main():
        async with serving(lying_gateway([HELLO_V1_RAW])) as liar, serving(honest_gateway(HELLO)) as honest:
            return await fetch_proof(HELLO_V1_RAW, [liar, closed_port_url(), honest], timeout=2)

    assert asyncio.run(main()) == HELLO


def test_fetch_proof_raises_cid_mismatch_when_the_only_answers_are_forged():
    async def main():
        async with serving(lying_gateway([HELLO_V1_RAW])) as liar, serving(honest_gateway()) as empty:
            await fetch_proof(HELLO_V1_RAW, [empty, liar])

    with pytest.raises(CidMismatch) as info:
        asyncio.run(main())
    kinds = [type(error) for _, error in info.value.attempts]
    assert kinds == [ProofNotFound, CidMismatch]


def test_fetch_proof_lists_every_source_when_none_has_the_proof(store):
    async def main():
        async with serving(honest_gateway()) as empty:
            await fetch_proof(HELLO_V1_RAW, [empty, f"{empty}/"], store=store)

    with pytest.raises(ProofNotFound) as info:
        asyncio.run(main())
    assert len(info.value.attempts) == 3
    assert "local store" in str(info.value) and "3 sources tried" in str(info.value)


def test_fetch_proof_raises_unavailable_when_no_source_can_be_reached():
    with pytest.raises(ProofStoreUnavailable) as info:
        asyncio.run(fetch_proof(HELLO_V1_RAW, [closed_port_url(), closed_port_url()], timeout=2))
    assert len(info.value.attempts) == 2


def test_fetch_proof_tries_a_gateway_url_given_as_the_proof_first(store):
    async def main():
        async with serving(honest_gateway(HELLO)) as gateway:
            return await fetch_proof(f"{gateway}/ipfs/{HELLO_V1_RAW}?filename=x", store=store)

    assert asyncio.run(main()) == HELLO


def test_fetch_proof_accepts_a_proof_store_client_or_a_server_url_as_the_store(store):
    store.put(HELLO)

    async def main():
        async with serving(build_proof_app(store)) as url:
            via_client = await fetch_proof(HELLO_V1_RAW, store=ProofStoreClient(url))
            via_url = await fetch_proof(HELLO_V0, store=url)
            return via_client, via_url

    assert asyncio.run(main()) == (HELLO, HELLO)


def test_fetch_proof_skips_a_corrupted_local_copy_and_uses_a_gateway(store):
    store.put(HELLO)
    store.path_for(HELLO_V1_RAW).write_bytes(b"rotten")

    async def main():
        async with serving(honest_gateway(HELLO)) as gateway:
            return await fetch_proof(HELLO_V1_RAW, [gateway], store=store)

    assert asyncio.run(main()) == HELLO


def test_fetch_proof_refuses_an_unverifiable_cid_before_contacting_anyone():
    blake = str(CID("base32", 1, "raw", multihash.digest(HELLO, "blake2b-256")))
    with pytest.raises(UnsupportedCid):
        asyncio.run(fetch_proof(blake, [closed_port_url()]))


def test_fetch_proof_without_any_source_says_so():
    with pytest.raises(ProofNotFound, match="no source"):
        asyncio.run(fetch_proof(HELLO_V1_RAW))


def test_every_client_failure_is_a_proof_error():
    for kind in (CidMismatch, ProofNotFound, ProofStoreUnavailable, ProofTooLarge, UnsupportedCid):
        assert issubclass(kind, ProofError)
    assert issubclass(ProofNotFound, LookupError) and issubclass(ProofStoreUnavailable, ConnectionError)


def test_fetch_proof_reports_a_multi_chunk_file_behind_a_cidv0_as_unsupported():
    big = b"\7" * (CHUNK_SIZE + 1)

    async def main(max_size):
        async with serving(lying_gateway([HELLO_V0], forged=big)) as gateway:
            await fetch_proof(HELLO_V0, [gateway], max_size=max_size)

    with pytest.raises(UnsupportedCid, match="more than one chunk"):
        asyncio.run(main(2 * CHUNK_SIZE))
    with pytest.raises(ProofTooLarge):  # with the default limit it is refused before hashing
        asyncio.run(main(CHUNK_SIZE))
