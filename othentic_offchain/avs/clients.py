"""Async HTTP clients of the AVS services, as the nodes use them.

A node must tell "the service is down" (retry later, do not vote) from "the service answered but
something is wrong" (report it): ``ServiceUnavailable`` and ``ServiceError``, each naming the URL.
The clients speak to any Othentic-style service, not only ours: they accept the answer shapes of
Othentic's examples (``{"data": bool}`` and its Go example's ``{"data": {"result": bool}}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp
from pydantic import ValidationError

from othentic_offchain import safejson
from othentic_offchain.avs.models import ExecutionResult, Task, describe_validation_error, to_hex

__all__ = [
    "ServiceClientError",
    "ServiceUnavailable",
    "ServiceError",
    "ValidationClient",
    "ExecutionClient",
    "MessageClient",
    "send_message",
]

_SNIPPET = 300


class ServiceClientError(Exception):
    """A call to an AVS service that gave no usable answer; ``url`` is the endpoint called."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class ServiceUnavailable(ServiceClientError):
    """Nothing answered: connection refused or reset, DNS failure, or no answer within the timeout."""


class ServiceError(ServiceClientError):
    """The service answered, but with a failure: a non-2xx status, ``error: true``, or a malformed body.

    ``status`` is the HTTP status and ``service_message`` the service's own message, when it gave one.
    """

    def __init__(
        self, message: str, *, url: str, status: int | None = None, service_message: str | None = None
    ) -> None:
        super().__init__(message, url=url)
        self.status = status
        self.service_message = service_message


def _endpoint(url: str, path: str) -> str:
    """Accept the service's base URL (as ``--avs-webapi`` takes it) or the full endpoint."""
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"service URL must start with http:// or https://, got {url!r}")
    return base if base.endswith(path) else base + path


class _ServiceClient:
    """One aiohttp session per client, created in the caller's loop at first use."""

    path = ""
    service = "AVS service"

    def __init__(self, url: str, timeout: float = 10.0, *, session: aiohttp.ClientSession | None = None) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.url = _endpoint(url, self.path)
        self.timeout = float(timeout)
        self._session = session
        self._owns_session = session is None

    async def close(self) -> None:
        """Close the session this client opened (a session passed in stays the caller's)."""
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if not self._owns_session:
                raise RuntimeError("the session given to this client is closed")
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def _post(self, body: Mapping[str, Any]) -> Any:
        """POST JSON and return the decoded 2xx answer; every failure becomes one of our errors."""
        where = f"{self.service} at {self.url}"
        try:
            async with self._client_session().post(
                self.url, json=dict(body), timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError as exc:
            raise ServiceUnavailable(f"{where} did not answer within {self.timeout:g} s", url=self.url) from exc
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else str(exc)
            raise ServiceUnavailable(f"{where} is unreachable: {reason}", url=self.url) from exc
        except aiohttp.ClientError as exc:
            raise ServiceUnavailable(f"{where} failed: {type(exc).__name__}: {exc}", url=self.url) from exc

        answer, text = _decode(raw)
        message = answer.get("message") if isinstance(answer, dict) else None
        service_message = str(message) if message is not None else (text[:_SNIPPET] if answer is None else None)
        if not 200 <= status < 300:
            shown = service_message or "(no message)"
            raise ServiceError(
                f"{where} answered {status}: {shown}", url=self.url, status=status, service_message=service_message
            )
        if not isinstance(answer, dict):
            raise ServiceError(
                f"{where} answered {status} with a body that is not a JSON object: {text[:_SNIPPET]!r}",
                url=self.url,
                status=status,
            )
        if answer.get("error") is True:
            raise ServiceError(
                f"{where} reported an error: {service_message or '(no message)'}",
                url=self.url,
                status=status,
                service_message=service_message,
            )
        return answer

    def _malformed(self, what: str, answer: Any) -> ServiceError:
        shown = json.dumps(answer)[:_SNIPPET]
        return ServiceError(
            f"{self.service} at {self.url} sent a malformed answer: {what}; got {shown}", url=self.url, status=200
        )


def _decode(raw: bytes) -> tuple[Any, str]:
    text = raw.decode("utf-8", errors="replace")
    try:
        return safejson.loads(text), text
    except ValueError:
        return None, text


class ValidationClient(_ServiceClient):
    """An attester's view of its Validation Service: task in, vote out."""

    path = "/task/validate"
    service = "validation service"

    async def validate(self, task: Task | Mapping[str, Any]) -> bool:
        """Ask the service to validate the task: True approves, False rejects."""
        task = task if isinstance(task, Task) else Task.model_validate(task)
        body = task.to_wire()
        # Some Othentic services read the id under its other spelling: send both, the value is one.
        body["taskDefinitionID"] = task.task_definition_id
        answer = await self._post(body)
        data = answer.get("data")
        if isinstance(data, bool):
            return data
        if isinstance(data, dict) and isinstance(data.get("result"), bool):  # Othentic's Go example
            return data["result"]
        raise self._malformed('"data" must be true/false or {"result": true/false}', answer)


class ExecutionClient(_ServiceClient):
    """A performer's view of its Execution Service: definition id and parameters in, proof and data out."""

    path = "/task/execute"
    service = "execution service"

    def __init__(self, url: str, timeout: float = 30.0, *, session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(url, timeout, session=session)

    async def execute(self, task_definition_id: int = 0, params: Mapping[str, Any] | None = None) -> ExecutionResult:
        """Run the task; the result is what the performer signs and sends with ``sendTask``."""
        params = dict(params or {})
        clash = {"taskDefinitionId", "taskDefinitionID"} & params.keys()
        if clash:
            raise ValueError(
                f"pass the definition id as task_definition_id, not in params ({', '.join(sorted(clash))})"
            )
        answer = await self._post({"taskDefinitionId": task_definition_id, **params})
        data = answer.get("data")
        if not isinstance(data, dict):
            raise self._malformed('"data" must be an object {proofOfTask, data, taskDefinitionId}', answer)
        data = dict(data)
        data.setdefault("taskDefinitionId", data.get("taskDefinitionID", task_definition_id))
        # Othentic's JS example answers its data as text and hex-encodes it (UTF-8) before sendTask.
        if isinstance(data.get("data"), str) and not data["data"].startswith(("0x", "0X")):
            data["data"] = data["data"].encode()
        try:
            result = ExecutionResult.model_validate(data)
        except ValidationError as exc:
            raise self._malformed(describe_validation_error(exc), answer) from None
        if result.task_definition_id != task_definition_id:  # the performer would sign the wrong task
            raise self._malformed(
                f"taskDefinitionId {result.task_definition_id} answered for a request of {task_definition_id}", answer
            )
        return result


class MessageClient(_ServiceClient):
    """A node's channel to forward custom messages (``sendCustomMessage``) to its service."""

    path = "/p2p/message"
    service = "message endpoint"

    def __init__(self, url: str, timeout: float = 5.0, *, session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(url, timeout, session=session)

    async def send(self, data: bytes) -> bool:
        """Forward the message; True unless the service says it had no handler for it."""
        answer = await self._post({"data": to_hex(data)})
        handled = answer.get("data")
        return handled if isinstance(handled, bool) else True


async def send_message(url: str, data: bytes, *, timeout: float = 5.0) -> bool:
    """Forward one custom message with a short-lived client; see ``MessageClient`` for many."""
    async with MessageClient(url, timeout) as client:
        return await client.send(data)
