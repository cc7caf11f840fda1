# The part every reliability scenario shares (sourced by lib.sh, memcached-lib.sh and the lmdb
# scenarios): the tree's root, a private work folder, and the processes a scenario starts, all
# stopped by pid and the folder removed on exit; the server build, the load generator, a
# private memcached, and port and RESULT-line helpers. Loopback only.
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
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT: until something accepts on 127.0.0.1:PORT (30 s); non-zero otherwise
wait_port() {
  for _ in $(seq 300); do listening "$1" && return 0; sleep 0.1; done
  echo "reliability: nothing listens on $1" >&2; return 1
}

# build_server [DLL]: $server_dll, the server to run: DLL, else $SERVER_DLL (e.g. a build of the
# code before a change), else this tree's, built in Release (not rebuilt with NO_BUILD=1)
build_server() {
  server_dll="${1:-${SERVER_DLL:-}}"
  [[ -n "$server_dll" ]] && return
  server_dll="$root/src/TcpTableServer/bin/Release/net10.0/TcpTableServer.dll"
  [[ "${NO_BUILD:-0}" == 1 ]] || dotnet build "$root/src/TcpTableServer" -c Release -nologo -v q >/dev/null
}

# build_loadgen: $loadgen, the load generator of ../shared/tools/loadgen beside the tree; when
# its binary is missing or older than its source it is built from a copy in .artifacts (the
# shared folder may be read-only)
build_loadgen() {
  local src="$root/../shared/tools/loadgen"
  loadgen="$src/loadgen"
  [[ -x "$loadgen" && ! "$src/loadgen.c" -nt "$loadgen" ]] && return
  local dir="$root/.artifacts/loadgen"
  mkdir -p "$dir"
  cp -p "$src/loadgen.c" "$src/Makefile" "$dir/"
  make -s -C "$dir" loadgen >/dev/null
  loadgen="$dir/loadgen"
}

# start_memcached [MEMCACHED OPTIONS...]: a private memcached on 127.0.0.1:$mc_port (a free port
# unless $mc_port is set: a restart keeps its port), its pid in $mc_pid
start_memcached() {
  mc_port="${mc_port:-$(free_port)}"
  local user=(); [ "$(id -u)" = 0 ] && user=(-u root)
  memcached -l 127.0.0.1 -p "$mc_port" -U 0 "${user[@]}" "$@" &
  mc_pid=$!
  pids+=($mc_pid)
  wait_port "$mc_port" || { echo "reliability: memcached did not start" >&2; exit 69; }
}

# field NAME [LINE]: the value of NAME=... in a RESULT line (LINE, or standard input)
field() {
  if (($# > 1)); then sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
  else sed -n "s/.* $1=\([^ ]*\).*/\1/p"; fi
}
