"""Find a builder's ``Avs`` object from a command-line reference such as ``my_avs.app:avs``.

The CLI serves an AVS it did not write; this is the one place that turns the user's reference
(a module or a file, then an attribute) into the object, with errors that say what to fix.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from othentic_offchain.avs.app import Avs

__all__ = ["load_avs", "AvsLoadError", "DEFAULT_ATTRIBUTE"]

#: Attribute looked up when the reference names no attribute (``my_avs.app`` means ``my_avs.app:avs``).
DEFAULT_ATTRIBUTE = "avs"


class AvsLoadError(Exception):
    """The reference does not lead to an ``Avs``; the message says which part failed and why."""


def load_avs(reference: str) -> Avs:
    """Import the ``Avs`` named by ``package.module:attr`` or ``path/to/file.py:attr``.

    Without ``:attr`` the module's ``avs`` attribute is taken, or its only ``Avs`` instance.
    ``attr`` may be dotted (``module:app.avs``) and may name a function that takes no
    arguments and returns the ``Avs`` (a factory). A file's folder is put on ``sys.path`` so that
    the file can import its siblings, as when it is run as a script.
    """
    if not isinstance(reference, str) or not reference.strip():
        raise AvsLoadError("empty AVS reference: expected 'package.module:attr' or 'path/to/file.py:attr'")
    target, attribute = _split(reference.strip())
    module = _import_file(target) if _is_path(target) else _import_module(target)
    found = _find(module, target, attribute)
    if isinstance(found, Avs):
        return found
    if callable(found):
        try:
            made = found()
        except Exception as exc:
            raise AvsLoadError(f"{reference}: calling the factory raised {type(exc).__name__}: {exc}") from exc
        if isinstance(made, Avs):
            return made
        raise AvsLoadError(f"{reference}: the factory returned {type(made).__name__}, expected an Avs")
    raise AvsLoadError(f"{reference}: is a {type(found).__name__}, expected an Avs (othentic_offchain.avs.Avs)")


def _split(reference: str) -> tuple[str, str | None]:
    # rpartition, and only a valid dotted identifier counts as the attribute, so that Windows
    # drive letters ("C:\\avs.py") stay part of the path.
    target, sep, attribute = reference.rpartition(":")
    if sep and target and attribute and all(part.isidentifier() for part in attribute.split(".")):
        return target, attribute
    if sep and not attribute:
        raise AvsLoadError(f"{reference}: nothing after ':'; name the attribute holding the Avs")
    return reference, None


def _is_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _import_module(name: str) -> Any:
    if not all(part.isidentifier() for part in name.split(".")):
        raise AvsLoadError(f"{name!r} is neither a module name (package.module) nor a .py file")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise AvsLoadError(
                f"no module named {exc.name!r} (while importing {name!r}): is the package installed, "
                "or its folder on PYTHONPATH? A file can be given as path/to/file.py:attr"
            ) from exc
        raise AvsLoadError(f"importing {name!r} failed: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        raise AvsLoadError(f"importing {name!r} failed: {type(exc).__name__}: {exc}") from exc


def _import_file(target: str) -> Any:
    path = Path(target).expanduser().resolve()
    if not path.is_file():
        raise AvsLoadError(f"no such file: {target}")
    # A name unique per path, so two files called app.py never replace each other in sys.modules.
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"othentic_avs_{path.stem.replace('-', '_')}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AvsLoadError(f"cannot import {target}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module  # dataclasses and pydantic look their module up while it executes
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise AvsLoadError(f"importing {target} failed: {type(exc).__name__}: {exc}") from exc
    return module


def _find(module: Any, target: str, attribute: str | None) -> Any:
    if attribute is not None:
        found: Any = module
        for part in attribute.split("."):
            if not hasattr(found, part):
                raise AvsLoadError(f"{target} has no attribute {attribute!r}")
            found = getattr(found, part)
        return found
    if hasattr(module, DEFAULT_ATTRIBUTE):
        return getattr(module, DEFAULT_ATTRIBUTE)
    instances = {name: value for name, value in vars(module).items() if isinstance(value, Avs)}
    if len(instances) == 1:
        return next(iter(instances.values()))
    if not instances:
        raise AvsLoadError(f"{target} defines no Avs; name one as {target}:attr")
    raise AvsLoadError(
        f"{target} defines several Avs objects ({', '.join(sorted(instances))}); name one as {target}:attr"
    )
