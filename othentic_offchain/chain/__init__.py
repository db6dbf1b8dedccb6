"""Chain access: compiled artifacts, deployment, contract clients."""

from .artifacts import (
    ArtifactsNotFound,
    ContractArtifact,
    ContractNotFound,
    Deployment,
    DeploymentFailed,
    compile_project,
    contract_names,
    deploy,
    ensure_compiled,
    find_project_root,
    is_stale,
    load_artifact,
    load_manifest,
    manifest_path,
)

__all__ = [
    "ArtifactsNotFound", "ContractArtifact", "ContractNotFound", "Deployment", "DeploymentFailed",
    "compile_project", "contract_names", "deploy", "ensure_compiled", "find_project_root", "is_stale",
    "load_artifact", "load_manifest", "manifest_path",
]
