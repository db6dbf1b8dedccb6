#!/usr/bin/env bash
# One idempotent setup: virtualenv + pinned Python packages, pinned npm packages, the offline solc
# shim registered where py-solc-x looks, anvil on the virtualenv's PATH, contracts compiled.
# A second run only checks stamps and recompiles nothing that did not change.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

command -v "$PYTHON" >/dev/null || die "python3 not found (need 3.11 or 3.12)"
"$PYTHON" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)' \
  || die "need Python 3.11 or 3.12, found $("$PYTHON" --version 2>&1)"
command -v node >/dev/null || die "node not found (need Node.js 18 or newer for solc-js and anvil)"
command -v npm >/dev/null || die "npm not found"

# --- Python -------------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv in .venv"
  "$PYTHON" -m venv "$VENV"
fi
py_stamp="$(stamp_of requirements.lock pyproject.toml)"
if [ "$(cat "$VENV/.setup-stamp" 2>/dev/null)" != "$py_stamp" ]; then
  say "installing pinned Python packages (requirements.lock)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.lock
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$py_stamp" > "$VENV/.setup-stamp"
else
  say "Python packages up to date"
fi

# --- npm: anvil, solc-js, OpenZeppelin ------------------------------------------------------------
npm_stamp="$(stamp_of package-lock.json)"
if [ ! -d node_modules ] || [ "$(cat node_modules/.setup-stamp 2>/dev/null)" != "$npm_stamp" ]; then
  say "installing pinned npm packages (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_stamp" > node_modules/.setup-stamp
else
  say "npm packages up to date"
fi

# --- solc: register the shim under the exact version solc-js reports ----------------------------
solc_version="$(node -p "require('solc').version().split('+')[0]")"
mkdir -p .solcx
if [ "$(readlink .solcx/solc-v"$solc_version" 2>/dev/null)" != "../tools/solc.js" ]; then
  say "registering solc $solc_version (solc-js) as .solcx/solc-v$solc_version"
  ln -sfn ../tools/solc.js ".solcx/solc-v$solc_version"
fi
chmod +x tools/solc.js

# --- anvil: the real binary ships in an npm package; link it into the venv's bin -----------------
case "$(uname -m)" in
  x86_64|amd64) anvil_pkg=anvil-linux-amd64 ;;
  aarch64|arm64) anvil_pkg=anvil-linux-arm64 ;;
  *) die "no anvil build for $(uname -m)" ;;
esac
anvil_bin="$ROOT/node_modules/@foundry-rs/$anvil_pkg/bin/anvil"
[ -x "$anvil_bin" ] || die "anvil binary missing at $anvil_bin (npm ci should have installed @foundry-rs/$anvil_pkg)"
if [ "$(readlink "$VENV/bin/anvil" 2>/dev/null)" != "$anvil_bin" ]; then
  say "linking anvil into .venv/bin"
  ln -sfn "$anvil_bin" "$VENV/bin/anvil"
fi

# --- chromium: the dashboard's browser test (tests/e2e/test_dashboard.py) loads the page in it ----
if command -v chromium >/dev/null; then
  say "chromium present"
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  say "installing chromium (apt) for the dashboard's browser test"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
      || say "warning: apt-get install chromium failed: the dashboard's browser test will be skipped (CI fails it)"
  fi
else
  say "chromium not installed and apt-get not usable here (needs root and apt): the dashboard's browser test will be skipped"
fi

# --- compile -----------------------------------------------------------------------------------
export SOLCX_BINARY_PATH="$ROOT/.solcx" APE_DATA_FOLDER="$ROOT/.ape" PATH="$VENV/bin:$PATH"
# Ape recompiles a changed file but not the files that import it (a contract embedding another's
# creation code would keep the old one), so any change to a source or the config forces a full build.
sol_stamp="$(find contracts -name '*.sol' -not -path '*/.cache/*' | sort | xargs cat ape-config.yaml | sha256sum | cut -d' ' -f1)"
compile_flags=()
if [ "$(cat .build/.setup-stamp 2>/dev/null)" != "$sol_stamp" ]; then
  compile_flags=(--force)
  say "compiling contracts"
fi
"$VENV/bin/ape" compile "${compile_flags[@]}" 2>&1 | grep -vE '^\s*$' | sed 's/^/[setup] ape: /'
test "${PIPESTATUS[0]}" -eq 0 || die "ape compile failed"
echo "$sol_stamp" > .build/.setup-stamp
say "ready: $("$VENV/bin/python" --version), solc $solc_version, $("$VENV/bin/anvil" --version | head -n1)"
