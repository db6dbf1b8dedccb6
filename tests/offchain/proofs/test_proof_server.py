"""The proof server, driven over real sockets on 127.0.0.1 (aiohttp's TestServer, a free port)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multiformats import CID, multihash

from othentic_offchain.proofs import (
    LocalProofStore,
    build_proof_app,
    compute_cid,
    compute_cid_v0,
    serve_proofs,
    start_proof_server,
)

HELLO = b"hello world\n"
HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_V1_RAW = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
LIMIT = 1024


@pytest.fixture
def store(tmp_path):
    return LocalProofStore(tmp_path, max_size=LIMIT, durable=False)


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/")).rstrip("/")
    finally:
        await server.close()


def run_against(store, scenario):
    """Serve ``store`` and run ``scenario(session, base_url)`` inside one event loop."""

    async def main():
        async with serving(build_proof_app(store)) as url, aiohttp.ClientSession() as session:
            return await scenario(session, url)

    return asyncio.run(main())


async def raw_http(url: str, request: bytes) -> bytes:
    """Send bytes as they are and read until the server has answered and closed or gone quiet."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    answer = bytearray()
    with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = await asyncio.wait_for(reader.read(65536), timeout=5)
            if not chunk:
                break
            answer += chunk
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return bytes(answer)


def test_post_stores_the_body_and_answers_201_with_both_cids_and_size(store):
    async def scenario(session, url):
        async with session.post(f"{url}/proofs", data=HELLO) as response:
            assert response.status == 201
            assert response.headers["Location"] == f"/ipfs/{HELLO_V1_RAW}"
            return await response.json()

    assert run_against(store, scenario) == {"cid": HELLO_V1_RAW, "cidV0": HELLO_V0, "size": 12}
    assert store.get(HELLO_V1_RAW) == HELLO


def test_post_keeps_the_body_verbatim_whatever_its_content_type(store):
    body = b'{"data": "not parsed", "n": 1}'

    async def scenario(session, url):
        async with session.post(f"{url}/proofs", data=body, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 201
            return (await r.json())["cid"]

    cid = run_against(store, scenario)
    assert cid == compute_cid(body) and store.get(cid) == body


def test_post_of_an_empty_body_stores_the_empty_proof(store):
    async def scenario(session, url):
        async with session.post(f"{url}/proofs", data=b"") as r:
            return r.status, await r.json()

    status, answer = run_against(store, scenario)
    assert status == 201 and answer["size"] == 0 and answer["cidV0"] == compute_cid_v0(b"")


def test_get_serves_the_bytes_as_octet_stream_under_either_cid(store):
    store.put(HELLO)

    async def scenario(session, url):
        results = []
        for cid in (HELLO_V1_RAW, HELLO_V0):
            async with session.get(f"{url}/ipfs/{cid}") as r:
                results.append((r.status, r.content_type, r.headers["ETag"], await r.read()))
        return results

    (s1, t1, e1, b1), (s2, t2, _, b2) = run_against(store, scenario)
    assert (s1, s2) == (200, 200)
    assert t1 == t2 == "application/octet-stream"
    assert b1 == b2 == HELLO
    assert e1 == f'"{HELLO_V1_RAW}"'


def test_get_of_an_unknown_cid_is_404_with_a_json_message(store):
    async def scenario(session, url):
        async with session.get(f"{url}/ipfs/{HELLO_V1_RAW}") as r:
            return r.status, await r.json()

    status, answer = run_against(store, scenario)
    assert status == 404 and answer["error"] == "not_found"
    assert HELLO_V1_RAW in answer["message"]
    assert str(store.folder) not in answer["message"]


@pytest.mark.parametrize(
    "cid, code",
    [
        ("not-a-cid", "invalid_cid"),
        (HELLO_V0[:-1] + "0", "invalid_cid"),
        ("z", "invalid_cid"),  # a multibase prefix alone: was a 500 (IndexError)
        (str(CID("base32", 1, "dag-cbor", multihash.digest(HELLO, "sha2-256"))), "unsupported_cid"),
    ],
)
def test_get_of_a_malformed_or_unsupported_cid_is_400(store, cid, code):
    async def scenario(session, url):
        async with session.get(f"{url}/ipfs/{cid}") as r:
            return r.status, await r.json()

    status, answer = run_against(store, scenario)
    assert status == 400 and answer["error"] == code and answer["message"]


def test_a_corrupted_stored_file_is_never_served(store):
    cid = store.put(HELLO)
    store.path_for(cid).write_bytes(b"tampered")

    async def scenario(session, url):
        async with session.get(f"{url}/ipfs/{cid}") as r:
            return r.status, await r.json()

    status, answer = run_against(store, scenario)
    assert status == 500 and answer["error"] == "corrupted"


def test_upload_over_the_limit_is_413_with_a_json_message_and_nothing_stored(store):
    async def scenario(session, url):
        async with session.post(f"{url}/proofs", data=b"x" * (LIMIT + 1)) as r:
            return r.status, await r.json()

    status, answer = run_against(store, scenario)
    assert status == 413 and answer["error"] == "too_large" and answer["maxSize"] == LIMIT
    assert str(LIMIT) in answer["message"]
    assert not store.has(compute_cid(b"x" * (LIMIT + 1), max_size=None))


def test_a_full_store_refuses_new_proofs_with_507_and_keeps_serving(tmp_path):
    full = LocalProofStore(tmp_path, max_size=LIMIT, durable=False, max_total_bytes=LIMIT, max_proofs=2)

    async def scenario(session, url):
        statuses = []
        for body in (b"a" * 600, b"b" * 600, b"a" * 600):  # the third is the first again: no new bytes
            async with session.post(f"{url}/proofs", data=body) as r:
                statuses.append((r.status, await r.json()))
        async with session.get(f"{url}/ipfs/{compute_cid(b'a' * 600)}") as r:
            return statuses, r.status

    statuses, served = run_against(full, scenario)
    assert [status for status, _ in statuses] == [201, 507, 201]
    assert statuses[1][1]["error"] == "store_full"
    assert f"limit (max_total_bytes) of {LIMIT}" in statuses[1][1]["message"]
    assert served == 200


def test_upload_of_exactly_the_limit_is_accepted(store):
    async def scenario(session, url):
        async with session.post(f"{url}/proofs", data=b"y" * LIMIT) as r:
            return r.status

    assert run_against(store, scenario) == 201


def test_upload_declaring_an_oversized_length_is_refused_before_its_body_is_read(store):
    # The body never comes: a server that tried to read it would hang instead of answering.
    request = (
        b"POST /proofs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: 1000000000\r\n\r\n" + b"z" * 100
    )

    async def scenario(session, url):
        return await raw_http(url, request)

    answer = run_against(store, scenario)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"too_large"' in answer


def test_chunked_upload_is_cut_off_once_it_passes_the_limit(store):
    # No Content-Length: the limit must be enforced while streaming.
    chunk = b"c" * 700
    request = (
        b"POST /proofs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        + b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        # the stream stays open: a server waiting for the end would never answer
    )

    async def scenario(session, url):
        return await raw_http(url, request)

    answer = run_against(store, scenario)
    assert answer.startswith(b"HTTP/1.1 413")
    assert f"more than {LIMIT}".encode() in answer


def test_health_reports_ok_and_the_size_limit(store):
    async def scenario(session, url):
        async with session.get(f"{url}/health") as r:
            return r.status, await r.json()

    assert run_against(store, scenario) == (200, {"status": "ok", "maxSize": LIMIT})


def test_start_proof_server_listens_on_the_port_it_reports(store):
    async def main():
        server = await start_proof_server(store, "127.0.0.1", 0)
        try:
            assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{server.url}/proofs", data=HELLO) as r:
                    assert r.status == 201
        finally:
            await server.close()

    asyncio.run(main())
    assert store.get(HELLO_V0) == HELLO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_proofs_serves_until_cancelled_then_releases_the_port(store):
    port = free_port()

    async def main():
        task = asyncio.create_task(serve_proofs(store, "127.0.0.1", port))
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/health") as r:
                        assert r.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("serve_proofs never answered")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)

    asyncio.run(main())


def test_expect_100_continue_with_an_oversized_length_gets_413_instead_of_continue(store):
    request = (
        b"POST /proofs HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        b"Content-Length: 5000\r\n\r\n"
    )

    async def scenario(session, url):
        return await raw_http(url, request)

    answer = run_against(store, scenario)
    assert answer.startswith(b"HTTP/1.1 413") and b"100 Continue" not in answer


def test_expect_100_continue_within_the_limit_is_told_to_continue(store):
    request = (
        b"POST /proofs HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        b"Content-Length: 12\r\n\r\n"
    )

    async def scenario(session, url):
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        writer.write(HELLO)
        final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        writer.close()
        return interim, final

    interim, final = run_against(store, scenario)
    assert interim.startswith(b"HTTP/1.1 100") and final.startswith(b"HTTP/1.1 201")
    assert store.get(HELLO_V1_RAW) == HELLO


@pytest.mark.parametrize(
    "method, path, status, code",
    [("GET", "/proofs", 405, "method_not_allowed"), ("DELETE", "/ipfs/x", 405, "method_not_allowed")]
    + [("GET", "/", 404, "not_found"), ("POST", "/ipfs", 404, "not_found")],
)
def test_a_method_or_route_the_server_lacks_is_a_json_error(store, method, path, status, code):
    async def scenario(session, url):
        async with session.request(method, f"{url}{path}") as r:
            return r.status, r.content_type, await r.json(content_type=None)

    answered, content_type, answer = run_against(store, scenario)
    assert (answered, content_type, answer["error"]) == (status, "application/json", code) and answer["message"]
