#!/usr/bin/env bash
# A throwaway PostgreSQL cluster under var/ for tests and local runs (Debian's postgresql package).
#
#   infra/postgres/pg.sh install   install Debian's postgresql if no server binaries are found
#   infra/postgres/pg.sh start     init (fresh) and start a cluster on a free port; prints its URL
#   infra/postgres/pg.sh url       print the URL of the running cluster
#   infra/postgres/pg.sh stop      stop it
#
# Settings: PG_DATA_DIR (var/postgres), PG_PORT (a free port). The cluster is for tests: fsync
# is off and local connections are trusted. It listens on 127.0.0.1 only.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
data=${PG_DATA_DIR:-$root/var/postgres}
db=carepath
user=carepath

log() { printf 'postgres: %s\n' "$*" >&2; }

bindir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$found" ] && [ -x "$found/initdb" ]; then echo "$found"; return 0; fi
  command -v initdb >/dev/null && dirname "$(command -v initdb)" && return 0
  return 1
}

install() {
  if bindir >/dev/null; then return 0; fi
  log "installing Debian's postgresql package"
  if [ "$(id -u)" -ne 0 ]; then log "not root: run 'sudo apt-get install -y postgresql' once"; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
}

# initdb and postgres refuse to run as root; run them as the package's postgres user then.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

running() { [ -f "$data/port" ] && as_owner "$(bindir)/pg_ctl" -D "$data/cluster" status >/dev/null 2>&1; }

url() { echo "postgresql+psycopg://$user@127.0.0.1:$(cat "$data/port")/$db"; }

start() {
  install
  if running; then url; return 0; fi
  local bin port
  bin=$(bindir)
  port=${PG_PORT:-$(free_port)}
  rm -rf "$data" && mkdir -p "$data"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$data"; fi
  as_owner "$bin/initdb" -D "$data/cluster" -U "$user" --auth=trust -E UTF8 >"$data/initdb.log" 2>&1 \
    || { cat "$data/initdb.log" >&2; exit 1; }
  as_owner "$bin/pg_ctl" -D "$data/cluster" -l "$data/server.log" -w -t 60 start \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null \
    || { tail -n 20 "$data/server.log" >&2; exit 1; }
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" "$db"
  echo "$port" > "$data/port"
  log "ready on 127.0.0.1:$port (data in $data)"
  url
}

stop() {
  if running; then as_owner "$(bindir)/pg_ctl" -D "$data/cluster" -m fast -w stop >/dev/null; fi
  rm -f "$data/port"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  url) running && url ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|url|stop" >&2; exit 2 ;;
esac
