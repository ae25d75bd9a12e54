#!/usr/bin/env bash
# Runs the whole bridge on this machine, all on 127.0.0.1: moto server (installed into .venv on
# first use) with template.yaml deployed into it as a stack, the mock Conversation API, and the
# function binaries under a Lambda Runtime API emulator with the stack's environment: webhook-
# ingest behind a local HTTP listener, the sender driven like the stack's event source mapping.
# Ctrl-C stops everything it started.
#
# Ports: BRIDGE_MOTO_PORT (5055), BRIDGE_WEBHOOK_PORT (3000), BRIDGE_MOCK_PORT (3010).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --quiet -p bridge-tools -p webhook-ingest -p sender -p secret-rotation --bins
state="$root/.local"
"$root/scripts/moto.sh" stop "$state" 2>/dev/null || true
trap '"$root/scripts/moto.sh" stop "$state"' EXIT
endpoint="$(MOTO_PORT="${BRIDGE_MOTO_PORT:-5055}" "$root/scripts/moto.sh" start "$state")"
export BRIDGECTL="$root/target/debug/bridgectl"
# Not exec: the trap must run after local-bridge exits to stop moto.
"$root/target/debug/local-bridge" --endpoint-url "$endpoint" || true
