#!/usr/bin/env bash
# Runs every test of the workspace, then the Python and Node examples against moto. On a fresh
# machine it first installs moto server (PyPI) into .venv, and the examples' packages (PyPI,
# npm) on first use; it starts one moto on a free loopback port for the integration tests and
# stops it on exit, whatever happens.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
state="$(mktemp -d)"
trap '"$root/scripts/moto.sh" stop "$state"; rm -rf "$state"' EXIT
MOTO_ENDPOINT="$("$root/scripts/moto.sh" start "$state")"
export MOTO_ENDPOINT
export MOTO_SERVER_BIN="$("$root/scripts/python-tools.sh")/moto_server"
echo "moto server at $MOTO_ENDPOINT"
cargo test --workspace --locked "$@"
# The producer and consumer examples in Python and Node, against their own moto (no filter:
# they are part of "every test" only when the whole workspace is tested).
if [ "$#" -eq 0 ]; then
  "$root/scripts/test-examples.sh"
fi
