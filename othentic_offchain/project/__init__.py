"""AVS projects: ``othentic init`` makes one, ``othentic devnet`` serves it, ``othentic task send`` uses it.

* :mod:`.config`: the project file ``othentic.toml`` (:func:`load_project`, :func:`find_project`);
* :mod:`.templates`: ``othentic init``'s templates (package data) and :func:`create_project`;
* :mod:`.devnet`: :class:`~othentic_offchain.project.devnet.ProjectDevnet`, the project on a local network;
* :mod:`.outcome`: what became of a task (side, votes, gas, data, dissent).

The pytest fixtures a project's tests use live in :mod:`othentic_offchain.testing`.
"""

from othentic_offchain.project.config import PROJECT_FILE, Project, ProjectError, find_project, load_project

__all__ = ["PROJECT_FILE", "Project", "ProjectError", "find_project", "load_project"]
