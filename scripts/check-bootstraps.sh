#!/usr/bin/env bash
# Checks what scripts/sam-build.sh produced, as Lambda's provided.al2023 runtime will run it:
# each function's `bootstrap` exists, is a Linux ELF executable for the built architecture,
# links only libraries AL2023 ships and needs no glibc newer than its 2.34, and starts under the
# project's Runtime API emulator with the stack's environment and answers invocations (a send,
# its delivery reports through the webhook, a whole rotation: tools/tests/local_loop.rs,
# the_packaged_bootstraps_send_verify_and_rotate). Exits non-zero on the first failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/.aws-sam/build"
# Amazon Linux 2023's glibc (https://docs.aws.amazon.com/linux/al2023/release-notes/).
al2023_glibc=2.34
# What a Rust binary may link dynamically and find on provided.al2023.
allowed_libs=" libc.so.6 libm.so.6 libgcc_s.so.1 libpthread.so.0 libdl.so.2 librt.so.1 ld-linux-x86-64.so.2 ld-linux-aarch64.so.1 "
arch="${ARCH:-x86_64}"
case "$arch" in
  x86_64) machine="x86-64" ;;
  arm64) machine="ARM aarch64" ;;
  *) echo "unknown ARCH=$arch" >&2; exit 2 ;;
esac
links="$(mktemp -d)"
trap 'rm -rf "$links"' EXIT
for pair in WebhookIngestFunction:webhook-ingest SenderFunction:sender SecretRotationFunction:secret-rotation; do
  id="${pair%%:*}"
  name="${pair#*:}"
  bin="$build/$id/bootstrap"
  fail() { echo "FAIL $id ($bin): $*" >&2; exit 1; }
  [ -f "$bin" ] || fail "missing: run scripts/sam-build.sh"
  [ -x "$bin" ] || fail "not executable"
  kind="$(file -b "$bin")"
  case "$kind" in
    *"ELF 64-bit LSB"*"executable"*"$machine"*) ;;
    *) fail "not a 64-bit $machine Linux executable: $kind" ;;
  esac
  for lib in $(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    case "$allowed_libs" in
      *" $lib "*) ;;
      *) fail "links $lib, which provided.al2023 does not ship" ;;
    esac
  done
  needs="$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
  if [ -n "$needs" ] && [ "$(printf '%s\n%s\n' "$needs" "$al2023_glibc" | sort -V | tail -1)" != "$al2023_glibc" ]; then
    fail "needs glibc $needs, AL2023 has $al2023_glibc"
  fi
  echo "ok $id: $(du -h "$bin" | cut -f1), glibc ${needs:-none} <= $al2023_glibc"
  ln -s "$bin" "$links/$name"
done
if [ "$arch" != x86_64 ]; then
  echo "not started: an $arch binary cannot run on this machine" >&2
  exit 0
fi
BRIDGE_PACKAGED_BIN_DIR="$links" "$root/scripts/test.sh" --test local_loop -- \
  --ignored --exact the_packaged_bootstraps_send_verify_and_rotate
