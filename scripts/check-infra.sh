#!/usr/bin/env bash
# Lints the SAM template: cfn-lint with the serverless rules, then `sam validate --lint`.
# Installs the pinned tools of infra/build-tools.txt (cfn-lint and its serverless rules,
# aws-sam-cli, cargo-lambda, ziglang) into .venv-infra (PyPI) on first use and whenever the pins
# change. Needs no AWS credentials.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${BRIDGE_INFRA_VENV:-$root/.venv-infra}"
pins="$root/infra/build-tools.txt"
stamp="$venv/.installed-pins"
if ! cmp -s "$pins" "$stamp"; then
  echo "installing infra/build-tools.txt into $venv (first run, or the pins changed)" >&2
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins"
  cp "$pins" "$stamp"
fi
cd "$root"
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
echo "cfn-lint (with cfn-lint-serverless rules)"
"$venv/bin/cfn-lint" --non-zero-exit-code error --append-rules cfn_lint_serverless.rules -- template.yaml
echo "sam validate --lint"
"$venv/bin/sam" validate --lint --template-file template.yaml
