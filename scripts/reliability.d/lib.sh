# Shared helpers of the connection scenarios (sourced): a private memcached and server on
# free loopback ports, RSS sampling, the flood client. Everything stops on exit.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
here="$root/scripts/reliability.d"

# build: the server (SERVER_DLL: measure another build, e.g. the "before" figures) and loadgen
build() { build_server; build_loadgen; }

# write_config [SERVER_LINES...]: $work/server.ini with map "aliases" (1000 keys in a texthash
# backup, memcached in front), socketmap on $sm_port, tcp on $tcp_port
write_config() {
  sm_port="$(free_port)"; tcp_port="$(free_port)"
  for i in $(seq 0 999); do echo "user$i@example.com alice$i@example.org"; done > "$work/aliases"
  printf 'memcache = inet:127.0.0.1:%s\nbackup = texthash:%s/aliases\nkey_format = aliases:%%s\n' "$mc_port" "$work" > "$work/aliases.cf"
  { echo "[server]"; echo "socketmap = inet:127.0.0.1:$sm_port"; for l in "$@"; do echo "$l"; done
    echo "[maps:aliases]"; echo "config = aliases.cf"; echo "tcp = inet:127.0.0.1:$tcp_port"; } > "$work/server.ini"
}

# start_server [FD_LIMIT]: the server as `scripts/run --config FILE` starts it ($server_pid)
start_server() {
  local limit="${1:-}"
  ( [[ -n "$limit" ]] && ulimit -n "$limit"; exec dotnet "$server_dll" --config "$work/server.ini" ) >"$work/server.log" 2>&1 &
  server_pid=$!
  pids+=($server_pid)
  for _ in $(seq 100); do listening "$sm_port" && listening "$tcp_port" && break; sleep 0.1; done
  alive || { echo "reliability: server did not start:"; cat "$work/server.log"; exit 70; } >&2
}

alive() { kill -0 "$server_pid" 2>/dev/null; }
rss_mb() { alive && awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$server_pid/status" || echo "dead"; }
fds() { alive && ls "/proc/$server_pid/fd" | wc -l || echo "-"; }

# flood ARGS...: scripts/reliability.d/flood.py against the socketmap listener, in the
# background, its own fd limit raised; output in $work/flood.N
flood_n=0
flood() {
  flood_n=$((flood_n + 1))
  ( ulimit -n "$(ulimit -Hn)"; exec python3 "$here/flood.py" --port "$sm_port" "$@" ) >"$work/flood.$flood_n" 2>&1 &
  pids+=($!)
}
flood_results() { for f in "$work"/flood.*; do grep RESULT "$f" || tail -2 "$f"; done; }

# warm the keys into memcached (lookups write back from the backup)
warm() { "$loadgen" --proto socketmap --port "$sm_port" --map aliases --keys 1000 --prefix user --domain example.com --seq --requests 2000 --duration 5 --quiet >/dev/null; }

# load SECONDS: 64 connections of socketmap lookups; prints the RESULT line
load() {
  "$loadgen" --proto socketmap --port "$sm_port" --map aliases --keys 1000 --prefix user --domain example.com \
    --conns 64 --threads 2 --duration "$1" --warmup 1 --quiet
}
