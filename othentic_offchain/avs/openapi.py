"""The OpenAPI 3.1 document of the services, assembled from the pydantic models' JSON schemas.

Generated, never written by hand, so the document cannot drift from what the services accept and
answer: a builder in another language reads it to write a compatible service or client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from othentic_offchain.avs.models import ErrorResponse

__all__ = ["Operation", "build_openapi", "OPENAPI_VERSION"]

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    """One route as the document describes it: what it takes, what it answers, how it fails."""

    method: str
    path: str
    operation_id: str
    summary: str
    description: str
    response: type[BaseModel] | None
    request: type[BaseModel] | None = None
    request_required: bool = True
    errors: dict[int, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    #: A raw schema for answers that are not one of our models (the document itself).
    response_schema: dict[str, Any] | None = None


def build_openapi(title: str, version: str, description: str, operations: list[Operation]) -> dict[str, Any]:
    """The document for exactly these operations (a validation-only service lists no execute route)."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for op in operations:
        if op.request is not None:
            wanted.append((op.request, "validation"))
        if op.response is not None:
            wanted.append((op.response, "serialization"))
        if op.errors:
            wanted.append((ErrorResponse, "serialization"))
    wanted = list(dict.fromkeys(wanted))
    refs, definitions = models_json_schema(wanted, ref_template=_REF) if wanted else ({}, {})

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        responses: dict[str, Any] = {}
        if op.response is not None:
            ok_schema = refs[(op.response, "serialization")]
        else:
            ok_schema = op.response_schema or {"type": "object"}
        responses["200"] = {"description": "OK", "content": {"application/json": {"schema": ok_schema}}}
        for status, why in sorted(op.errors.items()):
            responses[str(status)] = {
                "description": f"{HTTPStatus(status).phrase}: {why}",
                "content": {"application/json": {"schema": refs[(ErrorResponse, "serialization")]}},
            }
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "description": op.description,
            "responses": responses,
        }
        if op.tags:
            entry["tags"] = list(op.tags)
        if op.request is not None:
            entry["requestBody"] = {
                "required": op.request_required,
                "content": {"application/json": {"schema": refs[(op.request, "validation")]}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = entry

    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {})},
    }
