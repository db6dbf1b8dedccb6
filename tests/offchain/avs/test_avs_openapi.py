"""The OpenAPI 3.1 document: well formed, every route described, every reference resolvable."""

from __future__ import annotations

from typing import Any

import pytest
from tests.offchain.avs._avs_support import run, served

from othentic_offchain.avs import Avs, build_execution_app, build_services_app, build_validation_app

ALL_ROUTES = {
    ("/task/execute", "post"),
    ("/task/validate", "post"),
    ("/p2p/message", "post"),
    ("/health", "get"),
    ("/openapi.json", "get"),
}


def _document(builder=build_services_app) -> dict[str, Any]:
    async def fetch():
        async with served(builder(Avs("oracle"))) as client:
            response = await client.get("/openapi.json")
            assert response.status == 200
            return await response.json()

    return run(fetch())


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/components/schemas/"), ref
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item}


def test_document_is_openapi_3_1_with_info():
    document = _document()
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"].startswith("oracle")
    assert document["info"]["version"]
    assert set(document) >= {"openapi", "info", "paths", "components"}


def test_combined_app_documents_every_route():
    assert _operations(_document()) == ALL_ROUTES


@pytest.mark.parametrize(
    ("builder", "absent"),
    [(build_execution_app, "/task/validate"), (build_validation_app, "/task/execute")],
)
def test_single_service_app_documents_only_its_own_routes(builder, absent):
    operations = _operations(_document(builder))
    assert absent not in {path for path, _ in operations}
    assert operations == {op for op in ALL_ROUTES if op[0] != absent}


def test_every_reference_resolves_to_a_component_schema():
    document = _document()
    refs = _refs(document)
    assert refs
    for ref in refs:
        assert isinstance(_resolve(document, ref), dict)


def test_every_operation_has_an_id_a_summary_and_a_json_200_answer():
    document = _document()
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ids.append(operation["operationId"])
            assert operation["summary"], (path, method)
            ok = operation["responses"]["200"]
            assert ok["description"] and "schema" in ok["content"]["application/json"]
    assert len(ids) == len(set(ids))


def test_every_post_describes_its_request_body_and_json_error_answers():
    document = _document()
    for path, item in document["paths"].items():
        if "post" not in item:
            continue
        operation = item["post"]
        assert "application/json" in operation["requestBody"]["content"], path
        for status in ("400", "413"):
            error = operation["responses"][status]["content"]["application/json"]["schema"]
            schema = _resolve(document, error["$ref"])
            assert set(schema["properties"]) == {"data", "error", "message"}


def test_validate_request_schema_lists_the_task_fields_and_bounds():
    document = _document()
    ref = document["paths"]["/task/validate"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    task = _resolve(document, ref)
    assert set(task["required"]) == {"proofOfTask", "data", "taskDefinitionId", "performer"}
    definition = task["properties"]["taskDefinitionId"]
    assert (definition["minimum"], definition["maximum"]) == (0, 65535)
    assert task["properties"]["data"]["pattern"].startswith("^0")
    assert task["properties"]["performer"]["pattern"] == "^0x[0-9a-fA-F]{40}$"


def test_execute_request_body_is_optional_and_open_to_builder_parameters():
    document = _document()
    body = document["paths"]["/task/execute"]["post"]["requestBody"]
    assert body["required"] is False
    request = _resolve(document, body["content"]["application/json"]["schema"]["$ref"])
    assert request["additionalProperties"] is True
    assert request["properties"]["taskDefinitionId"]["default"] == 0


def test_validate_answer_schema_is_the_boolean_envelope():
    document = _document()
    answer = document["paths"]["/task/validate"]["post"]["responses"]["200"]["content"]["application/json"]
    schema = _resolve(document, answer["schema"]["$ref"])
    assert schema["properties"]["data"]["type"] == "boolean"
    assert schema["properties"]["error"]["const"] is False


def test_validate_documents_its_no_handler_timeout_and_failure_answers():
    responses = _document()["paths"]["/task/validate"]["post"]["responses"]
    assert {"400", "413", "422", "500", "504"} <= set(responses)
