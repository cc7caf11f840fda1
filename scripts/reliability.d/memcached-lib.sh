# Shared by the memcached isolation scenarios (sourced: long-keys, memcached-down, slow-memcached). Loopback only, every process bounded in time
# and stopped by its pid on exit.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# server_dll [DLL]: the server to run (default: this tree, built in Release)
server_dll() {
  if [[ -n "${1:-}" ]]; then echo "$1"; return; fi
  dotnet build "$root/src/TcpTableServer" -c Release -nologo -v q >/dev/null
  echo "$root/src/TcpTableServer/bin/Release/net10.0/TcpTableServer.dll"
}

loadgen() {
  local dir="$root/../shared/tools/loadgen"
  local bin="$dir/loadgen"
  [[ -x "$bin" ]] || make -C "$dir" >/dev/null
  "$bin" "$@"
}


# wait_port PORT: until something accepts on 127.0.0.1:PORT (30 s)
wait_port() {
  for _ in $(seq 300); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2; return 1
}

# start_server DLL INI LOG PORT: the server in the background, output to LOG
start_server() {
  DOTNET_NOLOGO=1 dotnet "$1" --config "$2" >"$3" 2>&1 &
  pids+=($!)
  wait_port "$4"
}

# field NAME RESULT-LINE: the value of NAME=... in loadgen's RESULT line
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
