"""``othentic services`` and ``othentic proofs serve``: an AVS's services and a local proof store."""

from __future__ import annotations

import asyncio
import json

import click

from othentic_offchain.cli.common import ready_line, run_until_stopped


@click.command(name="services")
@click.argument("avs_ref")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=4002, show_default=True, help="Port of the services (0: any free port).")
@click.option(
    "--role",
    type=click.Choice(["both", "execution", "validation"]),
    default="both",
    show_default=True,
    help="Serve /task/execute, /task/validate, or both on one port.",
)
@click.option(
    "--proof-store",
    default=None,
    envvar="OTHENTIC_PROOF_STORE",
    help="URL of a proof store (`othentic proofs serve`) the AVS's functions use as ctx.proofs.",
)
@click.option("--avs-config", default=None, help="JSON object passed to the AVS's functions as ctx.config.")
@click.option(
    "--definitions",
    envvar="OTHENTIC_DEFINITIONS",
    default=None,
    metavar="JSON",
    help='The id of each task definition name on this network, {"name": id, ...}: functions registered '
    'by name (@avs.execute("name")) serve that id [env OTHENTIC_DEFINITIONS; `othentic devnet` sets it].',
)
@click.option(
    "--deployment",
    envvar="OTHENTIC_DEPLOYMENT",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="Take the ids of the definition names from this deployment file's `definitions` (written by "
    "`othentic task-definition create`), when --definitions is not given [env OTHENTIC_DEPLOYMENT].",
)
@click.option(
    "--invert-validation",
    is_flag=True,
    help="Devnets only: answer the opposite of every validation, to play a lying attester.",
)
def services(avs_ref, host, port, role, proof_store, avs_config, definitions, deployment, invert_validation):
    """Serve an AVS's Execution and Validation Services over Othentic's HTTP API.

    AVS_REF names the `Avs` object: `package.module:attr` or `path/to/file.py:attr` (see
    docs/write-your-own-avs.md). Endpoints: POST /task/execute, POST /task/validate,
    POST /p2p/message, GET /health, GET /openapi.json.
    """
    from othentic_offchain.avs import build_execution_app, build_services_app, build_validation_app, serve
    from othentic_offchain.avs.loader import AvsLoadError, load_avs

    try:
        avs = load_avs(avs_ref)
    except AvsLoadError as exc:
        raise click.ClickException(str(exc)) from exc
    if avs_config:
        try:
            avs.config.update(json.loads(avs_config))
        except (ValueError, AttributeError) as exc:
            raise click.BadParameter(f"not a JSON object: {exc}", param_hint="--avs-config") from exc
    if definitions:
        try:
            names = json.loads(definitions)
            if not isinstance(names, dict):
                raise ValueError("expected an object")
            avs.bind(names)
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(str(exc), param_hint="--definitions") from exc
    elif deployment and avs.definition_names:
        from othentic_offchain.chain.deploy import DeploymentRecord

        try:
            avs.bind(DeploymentRecord.load(deployment).definitions)
        except ValueError as exc:
            raise click.ClickException(f"{deployment}: {exc}") from exc
    if invert_validation:
        _invert_validation(avs)
    build = {"both": build_services_app, "execution": build_execution_app, "validation": build_validation_app}[role]

    async def main():
        client = None
        if proof_store:
            from othentic_offchain.proofs import ProofStoreClient

            client = ProofStoreClient(proof_store)
            avs.proofs = client
        try:
            await serve(build(avs), host, port, ready=lambda url: ready_line(f"{avs.name} services ({role})", url))
        finally:
            if client is not None:
                await client.close()

    run_until_stopped(main())


def _invert_validation(avs) -> None:
    """Make ``avs`` answer the opposite of its validate functions (a lying attester's services)."""
    honest = avs.run_validate

    async def lying(task):
        return not await honest(task)

    avs.run_validate = lying


@click.group(name="proofs")
def proofs_group() -> None:
    """The local proof-of-task store (content-addressed blobs with IPFS-compatible CIDs)."""


@proofs_group.command("serve")
@click.option("--dir", "folder", type=click.Path(file_okay=False), required=True, help="Folder of the blobs.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=4100, show_default=True)
@click.option("--max-size", type=int, default=256 * 1024, show_default=True, help="Largest blob, bytes.")
@click.option("--max-total-bytes", type=int, default=1 << 30, show_default=True, help="Quota: bytes of all proofs.")
@click.option("--max-proofs", type=int, default=100_000, show_default=True, help="Quota: number of proofs.")
def serve_proofs_command(folder, host, port, max_size, max_total_bytes, max_proofs):
    """Serve a proof store: POST /proofs (returns the CID), GET /ipfs/<cid>, GET /health."""
    from othentic_offchain.proofs import LocalProofStore, start_proof_server

    async def main():
        store = LocalProofStore(folder, max_size=max_size, max_total_bytes=max_total_bytes, max_proofs=max_proofs)
        server = await start_proof_server(store, host, port)
        ready_line("proof store", server.url)
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    run_until_stopped(main())
