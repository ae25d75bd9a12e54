#!/usr/bin/env bash
# Builds both functions the way `sam deploy` ships them: `sam build` with cargo-lambda.
# Installs aws-sam-cli, cargo-lambda and ziglang into .venv-infra (PyPI) on first use.
#
#   scripts/sam-build.sh              # x86_64 (what these CI machines can build)
#   ARCH=arm64 scripts/sam-build.sh   # arm64: needs `rustup target add aarch64-unknown-linux-gnu` once
#
# Kept out of the test command: a release build of the AWS stack takes 5 to 10 minutes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${BRIDGE_INFRA_VENV:-$root/.venv-infra}"
"$root/scripts/check-infra.sh" >/dev/null
if [ ! -x "$venv/bin/cargo-lambda" ]; then
  echo "installing cargo-lambda and ziglang into $venv (first run only)" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'cargo-lambda>=1.9' ziglang
fi
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
