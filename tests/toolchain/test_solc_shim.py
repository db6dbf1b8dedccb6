"""tools/solc.js: the native-solc command line over solc-js that Ape (py-solc-x) and forge call.

Every test runs the shim as a subprocess, as its callers do. solc-js takes about a second to start,
so compilations are shared through module-scoped fixtures.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "tools" / "solc.js"

#: The regex of the brief (what Ape's stack parses `--version` with) and py-solc-x's own.
VERSION_RE = r"(\d+\.\d+\.\d+)(?:-nightly.\d{4}\.\d{1,2}\.\d{1,2})?(\+commit.\w+)"

SPDX = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\n"
OUTPUT_ALL = {"*": {"*": ["abi", "evm.bytecode.object"]}}


def run_shim(*args: str, stdin: str = "", cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["node", str(SHIM), *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def standard_json(sources: dict, outputs: dict | None = None) -> str:
    return json.dumps(
        {"language": "Solidity", "sources": sources, "settings": {"outputSelection": outputs or OUTPUT_ALL}}
    )


def compile_json(sources: dict, *args: str, cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess, dict]:
    proc = run_shim("--standard-json", *args, stdin=standard_json(sources), cwd=cwd)
    return proc, json.loads(proc.stdout)  # stdout must be the JSON and nothing else


def errors_of(output: dict, severity: str = "error") -> list[dict]:
    return [e for e in output.get("errors", []) if e.get("severity") == severity]


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def solc_js_version() -> str:
    """What require('solc').version() says, e.g. 0.8.37+commit.f401782d.Emscripten.clang."""
    return subprocess.run(
        ["node", "-p", "require('solc').version()"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def version_run() -> subprocess.CompletedProcess:
    return run_shim("--version")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict[str, Path]:
    """base/ (the --base-path), inc/ (an --include-path), extra/ (only allowed), secret/ (not allowed)."""
    top = tmp_path_factory.mktemp("solc-shim")
    files = {
        "base/Main.sol": SPDX + 'import "lib/Base.sol";\nimport "ext/FromInclude.sol";\n'
        "contract Main is Base, FromInclude { function f() external pure returns (uint256) { return b() + c(); } }\n",
        "base/lib/Base.sol": SPDX + 'import "./Util.sol";\ncontract Base { function b() internal pure returns (uint256) { return Util.one(); } }\n',
        "base/lib/Util.sol": SPDX + "library Util { function one() internal pure returns (uint256) { return 1; } }\n",
        "inc/ext/FromInclude.sol": SPDX + "contract FromInclude { function c() internal pure returns (uint256) { return 2; } }\n",
        "extra/Allowed.sol": SPDX + "contract AllowedOutsideRoots { function a() external pure returns (uint256) { return 3; } }\n",
        "secret/Secret.sol": SPDX + "contract TopSecretContract {}\n",
    }
    for name, text in files.items():
        path = top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return {"top": top, "base": top / "base", "inc": top / "inc", "extra": top / "extra", "secret": top / "secret"}


@pytest.fixture(scope="module")
def simple_compile():
    source = SPDX + "contract Simple { uint256 public x; function set(uint256 v) external { x = v; } }\n"
    return compile_json({"Simple.sol": {"content": source}})


@pytest.fixture(scope="module")
def import_compile(tree):
    """Main.sol by URL only (read through the import callback), its imports from the base path and the
    include path, plus a source with content that imports from the include path."""
    sources = {
        "Main.sol": {"urls": ["Main.sol"]},
        "Inline.sol": {"content": SPDX + 'import "ext/FromInclude.sol";\ncontract Inline is FromInclude {}\n'},
    }
    return compile_json(sources, "--base-path", str(tree["base"]), "--include-path", str(tree["inc"]))


# -- --version ------------------------------------------------------------------------------------


def test_version_banner_matches_apes_regex(version_run, solc_js_version):
    assert version_run.returncode == 0, version_run.stderr
    assert version_run.stdout.splitlines()[0] == "solc, the solidity compiler commandline interface"
    match = re.search(VERSION_RE, version_run.stdout)
    assert match, version_run.stdout
    assert "".join(match.groups()) == solc_js_version.split(".Emscripten")[0]
    assert f"Version: {solc_js_version}" in version_run.stdout


def test_version_parsed_by_py_solc_x(version_run, solc_js_version):
    from solcx.wrapper import VERSION_REGEX

    match = next(re.finditer(VERSION_REGEX, version_run.stdout), None)
    assert match is not None
    assert match.group(1) == solc_js_version.split("+")[0]


# -- --standard-json ------------------------------------------------------------------------------


def test_standard_json_prints_only_json(simple_compile):
    proc, output = simple_compile
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lstrip().startswith("{") and proc.stdout.rstrip().endswith("}")
    assert errors_of(output) == []
    contract = output["contracts"]["Simple.sol"]["Simple"]
    assert {item["name"] for item in contract["abi"] if item["type"] == "function"} == {"x", "set"}
    assert re.fullmatch(r"[0-9a-f]+", contract["evm"]["bytecode"]["object"])
    assert len(contract["evm"]["bytecode"]["object"]) > 100


def test_imports_resolved_from_base_and_include_paths(import_compile):
    proc, output = import_compile
    assert proc.returncode == 0, proc.stderr
    assert errors_of(output) == [], output.get("errors")
    assert {"Main.sol", "lib/Base.sol", "lib/Util.sol", "ext/FromInclude.sol", "Inline.sol"} <= set(output["sources"])
    assert output["contracts"]["Main.sol"]["Main"]["evm"]["bytecode"]["object"]
    assert "Inline" in output["contracts"]["Inline.sol"]


def test_missing_import_is_a_json_error(tree):
    proc, output = compile_json(
        {"Broken.sol": {"content": SPDX + 'import "lib/DoesNotExist.sol";\ncontract Broken {}\n'}},
        "--base-path", str(tree["base"]),
    )
    assert proc.returncode == 0
    messages = " ".join(e["message"] for e in errors_of(output))
    assert "lib/DoesNotExist.sol" in messages and "not found" in messages.lower()


def test_compile_error_is_reported_in_json_with_exit_0():
    proc, output = compile_json({"Bad.sol": {"content": SPDX + "contract Bad { function f( }\n"}})
    assert proc.returncode == 0, proc.stderr
    errors = errors_of(output)
    assert errors and errors[0]["type"] == "ParserError"
    assert errors[0]["sourceLocation"]["file"] == "Bad.sol"
    assert not output.get("contracts")


def test_invalid_json_input_gives_json_error_with_exit_0():
    proc = run_shim("--standard-json", stdin="{ this is not json")
    assert proc.returncode == 0
    output = json.loads(proc.stdout)
    (error,) = output["errors"]
    assert error["type"] == "JSONError" and error["severity"] == "error"


# -- arguments ------------------------------------------------------------------------------------


def test_unknown_argument_exits_non_zero_with_usage():
    proc = run_shim("--optimize")
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "unsupported argument: --optimize" in proc.stderr
    assert "usage:" in proc.stderr


def test_no_mode_and_missing_value_exit_non_zero():
    for args in ((), ("--standard-json", "--base-path")):
        proc = run_shim(*args)
        assert proc.returncode != 0, args
        assert "usage:" in proc.stderr


def test_allow_paths_comma_separated_reads_allowed_files(tree):
    allowed = f"{tree['extra']},{tree['inc']}"
    source = SPDX + f'import "{tree["extra"] / "Allowed.sol"}";\ncontract UsesAllowed is AllowedOutsideRoots {{}}\n'
    proc, output = compile_json(
        {"Uses.sol": {"content": source}}, "--base-path", str(tree["base"]), "--allow-paths", allowed
    )
    assert proc.returncode == 0, proc.stderr
    assert errors_of(output) == [], output.get("errors")
    assert "AllowedOutsideRoots" in output["contracts"][str(tree["extra"] / "Allowed.sol")]


def test_file_outside_allowed_roots_is_not_read(tree):
    secret = tree["secret"] / "Secret.sol"
    source = SPDX + f'import "{secret}";\ncontract Thief {{}}\n'
    proc, output = compile_json(
        {"Thief.sol": {"content": source}},
        "--base-path", str(tree["base"]), "--include-path", str(tree["inc"]), "--allow-paths", str(tree["extra"]),
    )
    assert proc.returncode == 0
    assert any(str(secret) in e["message"] for e in errors_of(output)), output.get("errors")
    assert "TopSecretContract" not in proc.stdout  # its content never reached the compiler
    assert not output.get("contracts")


def test_base_path_at_filesystem_root(tree):
    # Everything under '/' is inside the root: a source unit named by its absolute path minus '/'.
    unit = str(tree["base"] / "lib" / "Util.sol").lstrip("/")
    proc, output = compile_json({unit: {"urls": [unit]}}, "--base-path", "/")
    assert proc.returncode == 0
    assert errors_of(output) == [], output.get("errors")
    assert "Util" in output["contracts"][unit]


# -- registration and Ape -------------------------------------------------------------------------


def test_setup_registered_shim_for_py_solc_x(solc_js_version):
    version = solc_js_version.split("+")[0]
    link = ROOT / ".solcx" / f"solc-v{version}"
    assert link.is_symlink(), f"{link} missing: run `make setup`"
    assert link.resolve() == SHIM.resolve()
    assert os.access(link, os.X_OK)


def test_py_solc_x_lists_the_shim(solc_js_version, monkeypatch):
    import solcx

    monkeypatch.setenv("SOLCX_BINARY_PATH", str(ROOT / ".solcx"))
    assert str(solcx.install.get_solcx_install_folder()) == str(ROOT / ".solcx")
    assert solc_js_version.split("+")[0] in {str(v) for v in solcx.get_installed_solc_versions()}


def test_ape_project_has_compiled_contracts():
    from ape import project

    assert "BLSVerifier" in project.contracts
    contract_type = project.BLSVerifier.contract_type
    assert "verifyAggregate" in {abi.name for abi in contract_type.abi if abi.type == "function"}
