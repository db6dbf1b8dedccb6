"""Chain access: the packaged contract artifacts, deployment, contract clients."""

from othentic_offchain.chain.artifacts import (
    ArtifactsNotFound,
    ContractArtifact,
    ContractNotFound,
    Deployment,
    DeploymentFailed,
    contract_names,
    deploy,
    load_artifact,
)

__all__ = [
    "ArtifactsNotFound",
    "ContractArtifact",
    "ContractNotFound",
    "Deployment",
    "DeploymentFailed",
    "contract_names",
    "deploy",
    "load_artifact",
]
