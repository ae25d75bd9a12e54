#!/usr/bin/env bash
# Creates the stack of template.yaml in a moto server of its own (CloudFormation, SQS, Lambda, S3,
# SNS) with the default and a non-default parameter set, and checks the queues, functions,
# environment and event source mapping the Rust code depends on (scripts/emulator-stack.py).
# Installs moto server and aws-sam-translator (PyPI) into .venv on first use; needs no AWS
# account and no network after that. Moto runs on a free loopback port and is stopped on exit.
# The environment each function must get is derived from the settings the code declares
# (`bridgectl settings --json`, built here if it is not yet).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$("$root/scripts/python-tools.sh")"
state="$(mktemp -d)"
trap '"$root/scripts/moto.sh" stop "$state"; rm -rf "$state"' EXIT
endpoint="$("$root/scripts/moto.sh" start "$state")"
echo "moto server at $endpoint"
cargo run --quiet --locked -p bridge-tools --bin bridgectl -- --json settings > "$state/settings.json"
status=0
"$bin/python" "$root/scripts/emulator-stack.py" check --endpoint "$endpoint" --stack-name bridge \
  --settings "$state/settings.json" "$@" || status=$?
exit "$status"
