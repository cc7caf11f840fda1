# The part every reliability scenario shares (sourced by lib.sh and memcached-lib.sh): the
# tree's root, a private work folder, and the processes a scenario starts, all stopped by pid
# and the folder removed on exit. Loopback only.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d /tmp/tcptable-reliability.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
