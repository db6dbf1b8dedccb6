"""Exceptions of the proof-of-task store.

They share :class:`ProofError` so that a caller can catch "the proof could not be had" in one
clause, and also derive from the builtin that says what kind of failure it is (``ValueError`` for
bad input or bad content, ``LookupError`` for a miss, ``ConnectionError`` for an unreachable
store), so that code written against the builtins keeps working.
"""

from __future__ import annotations


class ProofError(Exception):
    """Base class of every proof-store failure.

    ``attempts`` is filled by :func:`~othentic_offchain.proofs.client.fetch_proof` when it gave up
    after trying several sources: one ``(source, error)`` pair per source, in the order tried.
    """

    attempts: tuple[tuple[str, ProofError], ...] = ()


class InvalidCid(ProofError, ValueError):
    """The text is not a CID (bad multibase, bad varints, truncated digest, unknown codes)."""


class UnsupportedCid(ProofError, ValueError):
    """A well-formed CID whose content this package cannot check (other codec, other hash, multi-chunk)."""


class CidMismatch(ProofError, ValueError):
    """Content does not hash to the CID it was given under: corruption, or a lying server."""


class ProofTooLarge(ProofError, ValueError):
    """Content over a size limit.

    ``size`` and ``limit`` are in bytes; ``size`` is a lower bound when the content was cut off
    while streaming, and ``limit`` is None when a server refused without saying its limit.
    """

    def __init__(
        self,
        size: int,
        limit: int | None,
        what: str = "proof",
        *,
        at_least: bool = False,
        message: str | None = None,
    ) -> None:
        self.size = size
        self.limit = limit
        if message is None:
            amount = f"more than {size - 1}" if at_least else str(size)
            bound = f"the limit of {limit} bytes" if limit is not None else "the server's limit"
            message = f"{what} is {amount} bytes, over {bound}"
        super().__init__(message)


class ProofStoreFull(ProofError, OSError):
    """The store holds its quota of bytes or proofs; nothing more is written until some are removed."""


class ProofNotFound(ProofError, LookupError):
    """No source holds content for the CID."""


class ProofStoreUnavailable(ProofError, ConnectionError):
    """A store or gateway could not be reached or answered with a server error."""


__all__ = [
    "ProofError",
    "InvalidCid",
    "UnsupportedCid",
    "CidMismatch",
    "ProofTooLarge",
    "ProofNotFound",
    "ProofStoreFull",
    "ProofStoreUnavailable",
]
