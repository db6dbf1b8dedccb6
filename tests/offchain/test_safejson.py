"""Deeply nested JSON from a peer is refused with a clear error; it never kills the process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from othentic_offchain import RECURSION_LIMIT, safejson

ROOT = Path(__file__).resolve().parents[2]
DEEP = b"[" * 200_000


def test_deep_nesting_is_refused_with_a_clear_error():
    with pytest.raises(safejson.JsonTooDeep, match="nested 200000 levels deep, the limit is 100"):
        safejson.loads(DEEP)
    with pytest.raises(ValueError):  # callers that catch ValueError answer "not JSON"
        safejson.loads(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}")


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"a": "[" * 10_000, "b": ["\\\"[[", {"c": "]]]"}]})
    assert safejson.json_depth(text) == 3
    assert safejson.loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"id": -Infinity}', '{"a": [1, NaN]}'])
def test_non_standard_constants_are_refused_as_not_json(text):
    with pytest.raises(safejson.JsonNotStandard, match="is not valid JSON"):
        safejson.loads(text)
    with pytest.raises(ValueError):  # the callers' "not JSON" answer
        safejson.loads(text.encode())


@pytest.mark.parametrize("text", [b'"\\ud800"', b'["a\\uDFFF"]', b'{"\\udbff": 1}', '["\ud800"]'])
def test_a_lone_surrogate_is_refused_as_not_json(text):
    with pytest.raises(safejson.JsonNotStandard, match="lone UTF-16 surrogate"):
        safejson.loads(text)


@pytest.mark.parametrize("raw", [b'"\xed\xa0\x80"', b'{"a": "\xff"}', '["é"]'.encode("utf-16")])
def test_bytes_that_are_not_utf8_are_refused(raw):
    with pytest.raises(UnicodeDecodeError):
        safejson.loads(raw)


def test_surrogate_pairs_escaped_backslashes_and_a_byte_order_mark_are_json():
    assert safejson.loads(b'"\\ud83d\\ude00"') == "\U0001f600"
    assert safejson.loads(b'"\\\\ud800"') == "\\ud800"
    assert safejson.loads(b"\xef\xbb\xbf[1]") == [1]


def test_a_surrogate_proof_of_task_is_a_parse_error_not_an_internal_error_of_the_method():
    from othentic_offchain.chain.types import TaskInfo
    from othentic_offchain.jsonrpc import JsonRpcServer, Param, as_str

    server = JsonRpcServer()

    @server.method("hash", [Param("proofOfTask", as_str)])
    async def task_hash(proofOfTask: str) -> str:  # what sendTask does first with it
        return TaskInfo(proofOfTask, b"", "0x" + "11" * 20, 0).task_hash().hex()

    answer = asyncio.run(server.dispatch(b'{"jsonrpc": "2.0", "method": "hash", "params": ["\\ud800"], "id": 1}'))
    assert answer["error"]["code"] == -32700, answer


def test_a_caller_may_still_choose_what_the_constants_mean():
    assert safejson.loads("[NaN]", parse_constant=lambda name: name) == ["NaN"]


def test_the_json_rpc_server_answers_nan_with_a_parse_error_not_an_echo():
    from othentic_offchain.jsonrpc import JsonRpcServer

    answer = asyncio.run(JsonRpcServer().dispatch(b'{"jsonrpc": "2.0", "method": "m", "id": NaN}'))
    assert answer["error"]["code"] == -32700 and "NaN is not valid JSON" in answer["error"]["message"]
    assert answer["id"] is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\'), inner, max_size=3),
    max_leaves=30,
)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(json_values)
def test_measured_depth_is_the_documents_depth(value):
    assert safejson.json_depth(json.dumps(value)) == _depth(value)


def test_the_attester_refuses_a_deeply_nested_attest_request_as_a_bad_request():
    from othentic_offchain.nodes.attester.checks import Refusal, parse_attest

    with pytest.raises(Refusal) as refused:
        parse_attest(DEEP)
    assert refused.value.status == 400 and refused.value.code == "bad_request"
    assert "nested 200000 levels deep" in refused.value.message


def test_importing_the_package_leaves_a_sane_recursion_limit():
    script = "import othentic_offchain.cli, othentic_offchain.crypto.bn254, sys; print(sys.getrecursionlimit())"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert int(out.stdout) == RECURSION_LIMIT


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_services_process_answers_deep_json_with_an_error_and_keeps_serving():
    proc = subprocess.Popen(
        [sys.executable, "-m", "othentic_offchain.cli", "services", "othentic_offchain.examples.generic.avs:avs"]
        + ["--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.rsplit(" ", 1)[-1].strip().rstrip("/")
        for _ in range(2):
            status, answer = _post(url + "/task/validate", DEEP)
            assert status == 400
            assert "nested 200000 levels deep" in json.dumps(answer)
        assert proc.poll() is None, f"services process died with status {proc.returncode}"
        with urllib.request.urlopen(url + "/health", timeout=10) as response:
            assert response.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
