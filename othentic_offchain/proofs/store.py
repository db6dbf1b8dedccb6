"""A content-addressed folder of proofs: the performer's default proof-of-task store.

Layout under ``folder``:

* ``blobs/<bafk...>``: the content, named by its CIDv1 raw (canonical base32 text);
* ``cidv0/<Qm...>``: a one-line index entry holding the CIDv1 of the same content, so that a
  lookup by the ``Qm...`` (or ``bafybei...``) name that ``ipfs add`` and Pinata print finds it.

Why an index rather than a second copy or a hard link: a CIDv0 cannot be turned into the CIDv1
without the content (they hash different bytes), so some record of the pair is needed anyway; a
small file per pair keeps one copy of each proof, works on every file system (hard links do not),
and is written with the same temp-file-and-rename step as the blobs, so it needs no lock. The index
is only a pointer: every read re-hashes the content against the CID that was asked for, so a wrong
or damaged entry can make a lookup fail but never return wrong bytes.

Concurrency: every file is written to a unique temporary name in the same directory, synced and
renamed into place. Renames are atomic, so readers see either nothing or a whole file, and several
asyncio tasks (through threads) or processes writing the same folder at once just race to put
identical bytes under the same name. Nothing is cached in memory, so there is no state to share.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

from multiformats import CID

from othentic_offchain.proofs.cid import (
    CHUNK_SIZE,
    compute_cid,
    compute_cid_v0,
    dag_pb_cid_text,
    ensure_supported,
    raw_cid_text,
    verify_cid,
)
from othentic_offchain.proofs.errors import (
    CidMismatch,
    InvalidCid,
    ProofNotFound,
    ProofStoreFull,
    ProofTooLarge,
    UnsupportedCid,
)

#: One IPFS chunk: the largest proof whose CIDs match what ``ipfs add`` prints.
DEFAULT_MAX_SIZE = CHUNK_SIZE
#: The quota of one store: total bytes of its proofs and how many it holds.
DEFAULT_MAX_TOTAL_BYTES = 1 << 30
DEFAULT_MAX_PROOFS = 100_000

_TEMP_PREFIX = ".tmp-"
_STALE_TEMP_SECONDS = 3600.0

__all__ = ["LocalProofStore", "DEFAULT_MAX_PROOFS", "DEFAULT_MAX_SIZE", "DEFAULT_MAX_TOTAL_BYTES"]


class LocalProofStore:
    """Proofs of task kept as files, addressed by CID and checked against it on every read.

    ``max_size`` bounds what :meth:`put` accepts; the default (256 KiB, one IPFS chunk) keeps both
    CIDs of every stored proof equal to what IPFS tools compute. ``durable=False`` skips the
    ``fsync`` calls, for tests and scratch stores only: a performer that has sent a task must not
    lose its proof in a power cut.

    ``max_total_bytes`` and ``max_proofs`` are the store's quota: a new proof that would pass
    either raises :class:`ProofStoreFull` (a proof already held is still accepted). The usage is
    counted from the folder when the store opens, then kept up to date by :meth:`put`; other
    processes writing the same folder are seen at the next open.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        max_size: int = DEFAULT_MAX_SIZE,
        *,
        durable: bool = True,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        max_proofs: int = DEFAULT_MAX_PROOFS,
    ) -> None:
        if max_size < 0:
            raise ValueError(f"max_size must be >= 0, got {max_size}")
        if max_total_bytes < 0 or max_proofs < 0:
            raise ValueError(f"the quota must be >= 0, got {max_total_bytes} bytes and {max_proofs} proofs")
        self.folder = Path(folder)
        self.max_size = max_size
        self.durable = durable
        self.max_total_bytes = max_total_bytes
        self.max_proofs = max_proofs
        self._quota_lock = threading.Lock()
        self._blobs = self.folder / "blobs"
        self._v0_index = self.folder / "cidv0"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._v0_index.mkdir(parents=True, exist_ok=True)
        self._sweep_stale_temp_files()
        self.total_bytes, self.proof_count = self._measure()

    def __repr__(self) -> str:
        return f"LocalProofStore({str(self.folder)!r}, max_size={self.max_size})"

    # --- writing -----------------------------------------------------------------------------

    def put(self, content: bytes) -> str:
        """Store ``content`` and return its CIDv1 raw, the value to put in ``proofOfTask``.

        Idempotent: storing the same bytes again returns the same CID and rewrites nothing, unless
        the file on disk was damaged, in which case it is repaired.
        """
        content = bytes(content)
        if len(content) > self.max_size:
            raise ProofTooLarge(len(content), self.max_size)
        cid = compute_cid(content, max_size=None)
        blob = self._blobs / cid
        if not self._holds(blob, cid):
            with self._quota_lock:
                new = not blob.exists()  # a damaged copy is repaired within the quota it has
                if new:
                    self._reserve(len(content))
                try:
                    self._write_atomic(blob, content)
                except BaseException:
                    if new:
                        self.total_bytes -= len(content)
                        self.proof_count -= 1
                    raise
        if len(content) <= CHUNK_SIZE:
            # index after the blob exists, so an entry never points at nothing
            entry = self._v0_index / compute_cid_v0(content)
            if self._read_entry(entry) != cid:
                self._write_atomic(entry, f"{cid}\n".encode())
        return cid

    # --- reading -----------------------------------------------------------------------------

    def get(self, cid: str | CID) -> bytes:
        """The content named ``cid`` (any supported form: ``bafk...``, ``Qm...``, ``ipfs://...``).

        The bytes are re-hashed before they are returned, so a file damaged on disk or edited by
        hand raises :class:`CidMismatch` instead of handing an attester the wrong proof.
        Raises :class:`ProofNotFound` when the store does not hold it.
        """
        parsed = ensure_supported(cid)
        path = self.path_for(parsed)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise ProofNotFound(f"proof {parsed} is not in the store at {self.folder}") from None
        try:
            verify_cid(parsed, content)
        except (CidMismatch, UnsupportedCid) as exc:
            raise CidMismatch(f"stored file {path} is corrupted: {exc}") from exc
        return content

    def has(self, cid: str | CID) -> bool:
        """Whether a file for ``cid`` is present (without re-hashing it: :meth:`get` does that).

        A well-formed CID of a kind this store never holds is simply absent; malformed text still
        raises :class:`InvalidCid`, since that is a caller's bug worth seeing.
        """
        try:
            return self.path_for(cid).is_file()
        except (UnsupportedCid, ProofNotFound):
            return False

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, (str, CID)) and self.has(cid)

    def path_for(self, cid: str | CID) -> Path:
        """The file that holds (or, for a raw CID, would hold) the content named ``cid``.

        A raw CID maps to its blob directly. A dag-pb CID (``Qm...``) goes through the index, so
        for one never stored this raises :class:`ProofNotFound`: its blob's name cannot be known
        without the content.
        """
        parsed = ensure_supported(cid)
        if parsed.codec.name == "raw":
            return self._blobs / raw_cid_text(parsed)
        v0 = dag_pb_cid_text(parsed)
        raw = self._read_entry(self._v0_index / v0)
        if raw is None:
            raise ProofNotFound(f"proof {v0} is not in the store at {self.folder}")
        try:
            return self._blobs / raw_cid_text(raw)
        except (InvalidCid, UnsupportedCid, ValueError) as exc:
            raise CidMismatch(f"index entry for {v0} in {self._v0_index} is corrupted: {exc}") from exc

    # --- internals ---------------------------------------------------------------------------

    def _reserve(self, size: int) -> None:
        if self.proof_count + 1 > self.max_proofs:
            raise ProofStoreFull(
                f"the proof store is full: it holds {self.proof_count} proofs, its limit (max_proofs) is {self.max_proofs}"
            )
        if self.total_bytes + size > self.max_total_bytes:
            raise ProofStoreFull(
                f"the proof store is full: {self.total_bytes} bytes stored, {size} more would pass its "
                f"limit (max_total_bytes) of {self.max_total_bytes}"
            )
        self.total_bytes += size
        self.proof_count += 1

    def _measure(self) -> tuple[int, int]:
        total = count = 0
        for blob in self._blobs.iterdir():
            if blob.name.startswith(_TEMP_PREFIX):
                continue
            with contextlib.suppress(OSError):
                total += blob.stat().st_size
                count += 1
        return total, count

    def _holds(self, blob: Path, cid: str) -> bool:
        try:
            verify_cid(cid, blob.read_bytes())
        except (FileNotFoundError, CidMismatch):
            return False
        return True

    @staticmethod
    def _read_entry(entry: Path) -> str | None:
        try:
            return entry.read_text(encoding="ascii", errors="replace").strip()
        except FileNotFoundError:
            return None

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                if self.durable:
                    os.fsync(handle.fileno())
            os.chmod(temp_name, 0o644)  # proofs are public; mkstemp's 0600 would hide them from a server user
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        if self.durable:
            self._sync_directory(path.parent)

    @staticmethod
    def _sync_directory(directory: Path) -> None:
        # makes the rename itself survive a crash; not every platform lets a directory be opened
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _sweep_stale_temp_files(self) -> None:
        # a process killed between mkstemp and rename leaves its temp file behind
        cutoff = time.time() - _STALE_TEMP_SECONDS
        for directory in (self._blobs, self._v0_index):
            for temp in directory.glob(f"{_TEMP_PREFIX}*"):
                with contextlib.suppress(OSError):
                    if temp.stat().st_mtime < cutoff:
                        temp.unlink()
