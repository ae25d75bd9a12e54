#!/usr/bin/env bash
# moto.sh start|stop STATE_DIR: runs one moto server on a free 127.0.0.1 port.
# start prints the endpoint URL and writes STATE_DIR/moto.pid; stop kills that pid.
set -euo pipefail
cmd="$1"; state="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$state"
case "$cmd" in
  start)
    bin="$("$root/scripts/python-tools.sh")"
    port="${MOTO_PORT:-$("$bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')}"
    "$bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
    echo $! >"$state/moto.pid"
    for _ in $(seq 1 100); do
      if "$bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
        echo "http://127.0.0.1:$port"; exit 0
      fi
      kill -0 "$(cat "$state/moto.pid")" 2>/dev/null || { cat "$state/moto.log" >&2; exit 1; }
      sleep 0.2
    done
    echo "moto server did not start; see $state/moto.log" >&2; exit 1 ;;
  stop)
    if [ -f "$state/moto.pid" ]; then kill "$(cat "$state/moto.pid")" 2>/dev/null || true; rm -f "$state/moto.pid"; fi ;;
  *) echo "usage: moto.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac
