"""Operator keys: the ECDSA account key and the BLS key, from the environment or encrypted files.

ECDSA (the operator's account: registers, performs, aggregates): ``--private-key`` /
``$PRIVATE_KEY`` (Othentic's name) or an Ethereum keystore file (``--keystore``, the format of
geth, Ape and ``cast wallet``) with its password in ``--password-file`` or ``$KEYSTORE_PASSWORD``.

BLS (the attester's votes): ``$BLS_PRIVATE_KEY`` (0x-hex scalar), or a BLS key file: the same
scrypt + AES-128-CTR keystore format, holding the 32-byte scalar, marked ``"keyType": "bls-bn254"``
(``othentic keys generate`` writes one). Without either, the BLS key is derived from the ECDSA key
(domain-separated, so it reveals nothing about it): one secret to keep for a devnet, while
production operators should keep two.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_keyfile import create_keyfile_json, decode_keyfile_json
from eth_typing import HexStr
from eth_utils import keccak

from othentic_offchain.crypto.bls import KeyPair, SecretKey

BLS_KEY_TYPE = "bls-bn254"
_DERIVE_DOMAIN = b"othentic-py.bls.derived-from-ecdsa.v1"


class KeyLoadError(ValueError):
    """A key that is missing, unreadable or wrongly formatted; the message says which."""


def _password(password: str | None, password_file: str | os.PathLike | None) -> bytes:
    if password is not None:
        return password.encode()
    if password_file is not None:
        return Path(password_file).read_text().rstrip("\n").encode()
    env = os.environ.get("KEYSTORE_PASSWORD")
    if env is not None:
        return env.encode()
    raise KeyLoadError("the key file is encrypted: give --password-file or set $KEYSTORE_PASSWORD")


def load_ecdsa_key(
    private_key: str | None = None,
    keystore: str | os.PathLike | None = None,
    *,
    password: str | None = None,
    password_file: str | os.PathLike | None = None,
) -> str:
    """The 0x-hex ECDSA private key: explicit value, then keystore file, then ``$PRIVATE_KEY``."""
    if private_key is None and keystore is None:
        private_key = os.environ.get("PRIVATE_KEY")
    if private_key is not None:
        try:
            return "0x" + bytes(Account.from_key(private_key).key).hex()
        except Exception as exc:
            raise KeyLoadError("the ECDSA private key is not a 32-byte hex value") from exc
    if keystore is None:
        raise KeyLoadError("no ECDSA key: give --private-key, --keystore, or set $PRIVATE_KEY")
    data = _read_json(keystore)
    try:
        # eth_keyfile hints the password as str, but its pbkdf2 path needs bytes (hashlib.pbkdf2_hmac).
        return "0x" + decode_keyfile_json(data, _password(password, password_file)).hex()  # type: ignore[arg-type]
    except ValueError as exc:
        raise KeyLoadError(f"cannot decrypt {keystore}: wrong password?") from exc


def load_bls_key(
    secret: str | None = None,
    key_file: str | os.PathLike | None = None,
    *,
    ecdsa_key: str | None = None,
    password: str | None = None,
    password_file: str | os.PathLike | None = None,
) -> KeyPair:
    """The BLS key pair: explicit secret, key file, ``$BLS_PRIVATE_KEY``, or derived from ``ecdsa_key``."""
    if secret is None and key_file is None:
        secret = os.environ.get("BLS_PRIVATE_KEY")
    if secret is not None:
        try:
            return KeyPair.from_secret(SecretKey(int(secret, 16)))
        except ValueError as exc:
            raise KeyLoadError("the BLS secret must be a 0x-hex scalar in [1, r-1]") from exc
    if key_file is not None:
        data = _read_json(key_file)
        if data.get("keyType") != BLS_KEY_TYPE:
            raise KeyLoadError(f"{key_file} is not a BLS key file (keyType {data.get('keyType')!r})")
        try:
            raw = decode_keyfile_json(data, _password(password, password_file))  # type: ignore[arg-type]  # bytes, as above
        except ValueError as exc:
            raise KeyLoadError(f"cannot decrypt {key_file}: wrong password?") from exc
        return KeyPair.from_secret(SecretKey(int.from_bytes(raw, "big")))
    if ecdsa_key is None:
        raise KeyLoadError("no BLS key: give --bls-key-file, set $BLS_PRIVATE_KEY, or an ECDSA key to derive it from")
    return derive_bls_key(ecdsa_key)


def derive_bls_key(ecdsa_key: str) -> KeyPair:
    """A BLS key pair derived from an ECDSA private key (one-way, domain-separated)."""
    raw = bytes(Account.from_key(ecdsa_key).key)
    return KeyPair.from_seed(keccak(_DERIVE_DOMAIN + raw))


def write_bls_key_file(path: str | os.PathLike, keys: KeyPair, password: str) -> Path:
    """Encrypt the BLS secret into a key file (mode 0600); returns the path."""
    secret = keys.secret.scalar.to_bytes(32, "big")
    # bytes, as when decoding: eth_keyfile's hints say str, but the password goes to its key derivation as is.
    data = create_keyfile_json(secret, password.encode(), kdf="scrypt")  # type: ignore[arg-type]
    data["keyType"] = BLS_KEY_TYPE
    data["publicKeyG1"] = [hex(w) for w in keys.public.g1.words()]
    data["publicKeyG2"] = [hex(w) for w in keys.public.g2.words()]
    data.pop("address", None)
    return _write_private(path, data)


def write_ecdsa_keystore(path: str | os.PathLike, private_key: str, password: str) -> Path:
    data = Account.encrypt(HexStr(private_key), password)
    return _write_private(path, data)


def _read_json(path: str | os.PathLike) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise KeyLoadError(f"key file {path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise KeyLoadError(f"key file {path} is not JSON") from exc


def _write_private(path: str | os.PathLike, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    return path
