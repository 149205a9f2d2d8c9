#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and local runs (Debian's postgresql package).
#
#   infra/postgres/pg.sh install   install Debian's postgresql if no server binaries are found
#   infra/postgres/pg.sh start     init (fresh) and start a cluster on a free port; prints its URL
#   infra/postgres/pg.sh url       print the URL of the running cluster
#   infra/postgres/pg.sh stop      stop it and delete its data
#
# Settings: PG_DATA_DIR (var/postgres) selects the instance, PG_PORT (a free port), PG_RUN_ROOT
# (/var/tmp). The cluster is for tests: fsync is off and local connections are trusted. It
# listens on 127.0.0.1 only.
#
# The cluster (its data directory, with its socket) is a private folder of its own,
# PG_RUN_ROOT/carepath-pg.*, not a folder of the clone: as root, initdb and postgres run as the
# `postgres` user, which may not be allowed into the clone (a 0700 folder, /root). PG_DATA_DIR holds
# `cluster` (a symlink to that folder), `port`, `initdb.log` and `server.log` (the server writes
# its log through a file descriptor this script opens, so it is kept, and readable, after `stop`).
# Beside each cluster folder, `carepath-pg.*.origin` names the PG_DATA_DIR it belongs to, so a
# cluster orphaned by `rm -rf var` or a killed test run is stopped and deleted at the next start.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
data=${PG_DATA_DIR:-$root/var/postgres}
case $data in /*) ;; *) data=$PWD/$data ;; esac
run_root=${PG_RUN_ROOT:-/var/tmp}
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

# initdb and postgres refuse to run as root; run them as the package's postgres user then (from /,
# as the caller's working directory may be closed to that user).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The cluster's data directory: where data/cluster points (or data/cluster itself, as it was once).
cluster() { readlink -f "$data/cluster" 2>/dev/null || true; }

running() {
  local dir; dir=$(cluster)
  [ -f "$data/port" ] && [ -n "$dir" ] && as_owner "$(bindir)/pg_ctl" -D "$dir" status >/dev/null 2>&1
}

url() { echo "postgresql+psycopg://$user@127.0.0.1:$(cat "$data/port")/$db"; }

# Delete the cluster data/cluster points to (only a folder this script made; its server, if one
# is left, is stopped first) and the link.
discard() {
  local dir; dir=$(cluster)
  if [ -L "$data/cluster" ]; then
    case "$dir" in
      */carepath-pg.*)
        if [ -f "$dir/postmaster.pid" ]; then
          as_owner "$(bindir)/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 || true
        fi
        rm -rf -- "$dir" "$dir.origin" ;;
    esac
    rm -f -- "$data/cluster"
  fi
}

# Stop and delete clusters of this PG_DATA_DIR that it no longer links to (orphans).
sweep() {
  local origin dir current; current=$(cluster)
  for origin in "$run_root"/carepath-pg.*.origin; do
    [ -f "$origin" ] && [ "$(cat "$origin")" = "$data" ] || continue
    dir=${origin%.origin}
    [ "$dir" = "$current" ] && continue
    if [ -f "$dir/postmaster.pid" ]; then
      as_owner "$(bindir)/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    log "deleting an orphaned cluster of $data: $dir"
    rm -rf -- "$dir" "$origin"
  done
}

# One start or stop at a time per PG_DATA_DIR (the server must not inherit the lock: `9>&-`).
lock() {
  mkdir -p "$(dirname "$data")"
  exec 9>"$data.lock"  # beside PG_DATA_DIR, so it goes with the clone
  flock 9
}

fail() { # fail WHAT LOG: say what failed, show the end of its log, delete the cluster, exit
  log "$1 failed; last lines of $2:"; tail -n 30 "$2" >&2 || true
  discard; exit 1
}

start() {
  install
  lock
  if running; then url; return 0; fi
  local bin port dir
  bin=$(bindir)
  port=${PG_PORT:-$(free_port)}
  discard
  sweep
  rm -rf "$data" && mkdir -p "$data"
  dir=$(mktemp -d "$run_root/carepath-pg.XXXXXX")  # mode 0700, as postgres wants its data dir
  printf '%s\n' "$data" >"$dir.origin"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
  ln -s "$dir" "$data/cluster"
  as_owner "$bin/initdb" -D "$dir" -U "$user" --auth=trust -E UTF8 >"$data/initdb.log" 2>&1 \
    || fail initdb "$data/initdb.log"
  # No -l: the server inherits pg_ctl's stdout, a file opened here (the postgres user could not
  # open a path inside the clone), and logs to it.
  as_owner "$bin/pg_ctl" -D "$dir" -w -t 60 start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >"$data/server.log" 2>&1 </dev/null 9>&- \
    || fail "starting the server" "$data/server.log"
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" "$db" 2>>"$data/server.log" \
    || fail createdb "$data/server.log"
  echo "$port" > "$data/port"
  log "ready on 127.0.0.1:$port (cluster in $dir, logs in $data)"
  url
}

stop() {
  lock
  local dir; dir=$(cluster)
  if running; then as_owner "$(bindir)/pg_ctl" -D "$dir" -m fast -w stop >/dev/null; fi
  discard
  sweep
  rm -f "$data/port"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  url) running && url ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|url|stop" >&2; exit 2 ;;
esac
