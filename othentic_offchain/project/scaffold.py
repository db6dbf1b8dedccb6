"""``othentic init``: a new AVS project folder from one of the templates shipped with the package.

A template is a folder under ``templates/`` (package data). Its files are copied as they are,
except that ``{{name}}`` and ``{{template}}`` become the project's name and the template's, and
``gitignore`` becomes ``.gitignore`` (a dotfile would not survive packaging).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["TEMPLATES", "create_project", "templates"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_RENAMED = {"gitignore": ".gitignore"}


def templates() -> list[str]:
    """The templates' names."""
    return sorted(folder.name for folder in TEMPLATES.iterdir() if (folder / "othentic.toml").is_file())


def create_project(name: str, template: str = "minimal", parent: str | Path = ".") -> Path:
    """Create ``<parent>/<name>`` from ``template``; returns the folder. Refuses to overwrite."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a project name: a letter, then letters, digits, '-' or '_' (64 at most)")
    source = TEMPLATES / template
    if not (source / "othentic.toml").is_file():
        raise ValueError(f"no template {template!r}; choose from {', '.join(templates())}")
    target = Path(parent).resolve() / name
    if target.exists():
        raise FileExistsError(f"{target} already exists: choose another name or remove it")
    for path in sorted(source.rglob("*")):
        if "__pycache__" in path.parts or path.suffix == ".pyc" or path.is_dir():
            continue
        relative = path.relative_to(source)
        out = target / relative.parent / _RENAMED.get(relative.name, relative.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text().replace("{{name}}", name).replace("{{template}}", template)
        out.write_text(text)
    return target
