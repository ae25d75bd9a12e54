#!/usr/bin/env bash
# Lints the SAM template: cfn-lint with the serverless rules, then `sam validate --lint`.
# Installs cfn-lint, cfn-lint-serverless and aws-sam-cli into .venv-infra (PyPI) on first use.
# Needs no AWS credentials.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${BRIDGE_INFRA_VENV:-$root/.venv-infra}"
stamp="$venv/.installed-v1"
if [ ! -f "$stamp" ]; then
  echo "installing cfn-lint, cfn-lint-serverless and aws-sam-cli into $venv (first run only)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'cfn-lint>=1.51' 'cfn-lint-serverless>=0.3.6' 'aws-sam-cli>=1.170'
  touch "$stamp"
fi
cd "$root"
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
echo "cfn-lint (with cfn-lint-serverless rules)"
"$venv/bin/cfn-lint" --non-zero-exit-code error --append-rules cfn_lint_serverless.rules -- template.yaml
echo "sam validate --lint"
"$venv/bin/sam" validate --lint --template-file template.yaml
