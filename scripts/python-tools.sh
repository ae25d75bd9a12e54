#!/usr/bin/env bash
# Installs the Python tools the tests and the local loop need into .venv (PyPI only),
# once; later runs reuse it. Prints the venv's bin directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${BRIDGE_VENV:-$root/.venv}"
stamp="$venv/.installed-v2"
if [ ! -f "$stamp" ]; then
  echo "installing moto server and aws-sam-translator into $venv (first run only)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5' 'aws-sam-translator==1.115.0' >&2
  touch "$stamp"
fi
echo "$venv/bin"
