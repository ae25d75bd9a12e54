#!/usr/bin/env bash
# Builds the three functions the way `sam deploy` ships them: `sam build` with cargo-lambda,
# at the versions pinned in infra/build-tools.txt (scripts/check-infra.sh installs them into
# .venv-infra on first use).
#
#   scripts/sam-build.sh              # x86_64, the template's default (what CI builds and checks)
#   ARCH=arm64 scripts/sam-build.sh   # arm64: needs `rustup target add aarch64-unknown-linux-gnu` once
#
# Then scripts/check-bootstraps.sh checks what it produced. CI runs both (.ci/run).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${BRIDGE_INFRA_VENV:-$root/.venv-infra}"
"$root/scripts/check-infra.sh" >/dev/null
arch="${ARCH:-x86_64}"
if [ "$arch" = arm64 ] && ! rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu; then
  echo "arm64 needs the aarch64-unknown-linux-gnu target: rustup target add aarch64-unknown-linux-gnu" >&2
  exit 2
fi
cd "$root"
# cargo-lambda finds zig through `python3 -m ziglang`, so the venv's python must come first.
export PATH="$venv/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
sam build --parameter-overrides "Architecture=$arch" "$@"
ls -l .aws-sam/build/WebhookIngestFunction/bootstrap .aws-sam/build/SenderFunction/bootstrap .aws-sam/build/SecretRotationFunction/bootstrap
