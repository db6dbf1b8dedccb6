"""``othentic keys ...``: create and inspect operator key files."""

from __future__ import annotations

from pathlib import Path

import click
from eth_account import Account

from othentic_offchain.cli.common import console
from othentic_offchain.crypto.bls import KeyPair
from othentic_offchain.crypto.keys import KeyLoadError, load_bls_key, write_bls_key_file, write_ecdsa_keystore


@click.group(name="keys")
def keys_group() -> None:
    """Create encrypted key files for an operator (an account key and a BLS key)."""


def _password(password_file: str | None) -> str:
    if password_file:
        return Path(password_file).read_text().rstrip("\n")
    return click.prompt("Password for the key files", hide_input=True, confirmation_prompt=True)


@keys_group.command("generate")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Folder to write the key files to."
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Read the password from this file (default: prompt).",
)
@click.option("--bls-only", is_flag=True, help="Only a BLS key file (keep your existing account key).")
def generate(out_dir, password_file, bls_only):
    """Create a new account keystore (account.json) and BLS key file (bls.json), encrypted (scrypt)."""
    out = Path(out_dir)
    for name in ["bls.json"] if bls_only else ["account.json", "bls.json"]:
        if (out / name).exists():
            raise click.ClickException(f"{out / name} exists: refusing to overwrite a key")
    password = _password(password_file)
    keys = KeyPair.generate()
    write_bls_key_file(out / "bls.json", keys, password)
    if not bls_only:
        account = Account.create()
        write_ecdsa_keystore(out / "account.json", "0x" + bytes(account.key).hex(), password)
        console().print(f"Account: {account.address}  ({out / 'account.json'})")
    console().print(f"BLS public key (G1): {[hex(w) for w in keys.public.g1.words()]}  ({out / 'bls.json'})")


@keys_group.command("show")
@click.option("--bls-key-file", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False), default=None)
def show(bls_key_file, password_file):
    """Print a BLS key file's public keys (G1 and G2, precompile order)."""
    try:
        keys = load_bls_key(key_file=bls_key_file, password_file=password_file)
    except KeyLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    console().print(f"G1: {[hex(w) for w in keys.public.g1.words()]}")
    console().print(f"G2: {[hex(w) for w in keys.public.g2.words()]}")
