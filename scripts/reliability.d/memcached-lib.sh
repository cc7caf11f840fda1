# Shared by the memcached isolation scenarios (sourced: frozen-memcached, long-keys,
# memcached-down, slow-memcached): common.sh and the server started on a given INI file.
# Loopback only, every process bounded in time and stopped by its pid on exit.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# start_server DLL INI LOG PORT: the server in the background, output to LOG
start_server() {
  DOTNET_NOLOGO=1 dotnet "$1" --config "$2" >"$3" 2>&1 &
  pids+=($!)
  wait_port "$4"
}
