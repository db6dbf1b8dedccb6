"""load_avs: from a CLI reference (module or file, then attribute) to the builder's Avs object."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from othentic_offchain.avs import Avs, AvsLoadError, load_avs

SOURCE = '''
from othentic_offchain.avs import Avs, Execution

avs = Avs("{name}")

@avs.validate(1)
def check(task):
    return True
'''


def _write(folder: Path, filename: str, text: str) -> Path:
    path = folder / filename
    path.write_text(text)
    return path


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A fresh importable package (unique name per test) holding ``app.py`` with an ``avs``."""
    name = f"avs_pkg_{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    root.mkdir()
    _write(root, "__init__.py", "")
    _write(root, "app.py", SOURCE.format(name="from-package"))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_loads_module_colon_attribute(package):
    avs = load_avs(f"{package}.app:avs")
    assert isinstance(avs, Avs) and avs.name == "from-package"
    assert avs.validate_ids == [1]


def test_module_without_attribute_means_its_avs_attribute(package):
    assert load_avs(f"{package}.app").name == "from-package"


def test_loads_file_path_colon_attribute(tmp_path):
    path = _write(tmp_path, "my_avs.py", SOURCE.format(name="from-file"))
    assert load_avs(f"{path}:avs").name == "from-file"


def test_file_can_import_its_siblings(tmp_path):
    folder = tmp_path / f"f{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    sibling = f"sibling_{uuid.uuid4().hex[:8]}"
    _write(folder, f"{sibling}.py", "NAME = 'from-sibling'\n")
    path = _write(folder, "main.py", f"from {sibling} import NAME\nfrom othentic_offchain.avs import Avs\nservice = Avs(NAME)\n")
    assert load_avs(f"{path}:service").name == "from-sibling"


def test_file_with_a_single_avs_under_another_name_is_found_without_attribute(tmp_path):
    path = _write(tmp_path, "single.py", "from othentic_offchain.avs import Avs\noracle = Avs('only-one')\n")
    assert load_avs(str(path)).name == "only-one"


def test_attribute_may_be_a_factory_returning_an_avs(tmp_path):
    path = _write(tmp_path, "factory.py", "from othentic_offchain.avs import Avs\ndef make():\n    return Avs('made')\n")
    assert load_avs(f"{path}:make").name == "made"


def test_attribute_may_be_dotted(tmp_path):
    path = _write(tmp_path, "dotted.py", "from othentic_offchain.avs import Avs\nclass holder:\n    avs = Avs('inner')\n")
    assert load_avs(f"{path}:holder.avs").name == "inner"


def test_missing_module_names_the_module_and_suggests_a_fix():
    with pytest.raises(AvsLoadError, match=r"no module named 'no_such_avs_pkg'.*PYTHONPATH"):
        load_avs("no_such_avs_pkg.app:avs")


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(AvsLoadError, match="no such file"):
        load_avs(f"{tmp_path}/absent.py:avs")


def test_missing_attribute_is_reported(package):
    with pytest.raises(AvsLoadError, match="has no attribute 'nope'"):
        load_avs(f"{package}.app:nope")


def test_attribute_that_is_not_an_avs_is_reported(tmp_path):
    path = _write(tmp_path, "notavs.py", "avs = 42\n")
    with pytest.raises(AvsLoadError, match="is a int, expected an Avs"):
        load_avs(f"{path}:avs")


def test_error_raised_while_importing_the_file_is_reported_with_its_type(tmp_path):
    path = _write(tmp_path, "broken.py", "raise RuntimeError('bad config')\n")
    with pytest.raises(AvsLoadError, match="RuntimeError: bad config"):
        load_avs(f"{path}:avs")


def test_module_whose_own_import_fails_is_not_mistaken_for_a_missing_module(tmp_path, monkeypatch):
    name = f"avs_dep_{uuid.uuid4().hex[:8]}"
    _write(tmp_path, f"{name}.py", "import definitely_missing_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AvsLoadError, match=f"importing '{name}' failed: ModuleNotFoundError"):
        load_avs(f"{name}:avs")


def test_file_with_several_avs_asks_to_name_one(tmp_path):
    path = _write(tmp_path, "two.py", "from othentic_offchain.avs import Avs\na = Avs('a')\nb = Avs('b')\n")
    with pytest.raises(AvsLoadError, match=r"several Avs objects \(a, b\)"):
        load_avs(str(path))


@pytest.mark.parametrize("reference", ["", "   ", "module:", "not a module"])
def test_malformed_references_are_refused(reference):
    with pytest.raises(AvsLoadError):
        load_avs(reference)
