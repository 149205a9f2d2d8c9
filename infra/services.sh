#!/usr/bin/env bash
# Runs the CarePath services in the background for `make up` / `make down`.
#
#   infra/services.sh start   start every service not running yet, wait until each takes commands
#                             (/readyz 200) and has reached Kafka (/healthz says "kafka":"ok")
#   infra/services.sh stop    stop them (SIGTERM: graceful shutdown)
#   infra/services.sh status  one line per service
#
# Logs and pid files go to var/log and var/run. Services use SQLite under var/ unless DATABASE_URL
# is set, and the broker at KAFKA_BOOTSTRAP_SERVERS (default localhost:9092).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mkdir -p var/log var/run
timeout=${CAREPATH_START_TIMEOUT:-60}

# name:port:command (the public ports of ARCHITECTURE.md)
services=(
  "intake:8001:carepath-intake"
  "eligibility:8002:carepath-eligibility"
  "session:8003:carepath-session"
  "integration:8004:carepath-integration"
  "dashboard:8000:carepath-dashboard"
  "audit:8005:carepath-audit-service"
)

log() { printf 'services: %s\n' "$*" >&2; }
# shellcheck source=lib.sh
. "$root/infra/lib.sh"
pid_of() { cat "var/run/$1.pid" 2>/dev/null || true; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { local pid; pid=$(pid_of "$1"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

connected() {
  curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 &&
    curl -fsS "http://127.0.0.1:$1/healthz" 2>/dev/null | grep -q '"kafka":"ok"'
}

wait_ready() {
  local name=$1 port=$2 deadline=$((SECONDS + timeout))
  until connected "$port"; do
    if ! alive "$name"; then log "$name exited; last lines of var/log/$name.log:"; tail -n 20 "var/log/$name.log" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then
      log "$name not ready after ${timeout}s: $(curl -s "http://127.0.0.1:$port/readyz" || true)" \
        "$(curl -s "http://127.0.0.1:$port/healthz" || true)"; exit 1
    fi
    sleep 0.3
  done
}

start() {
  # The dev issuer of bearer tokens (var/dev-issuer: its key pair and JWKS), trusted by the
  # services in dev mode and used by carepath-token and carepath-seed: made before any of them
  # needs it (with CAREPATH_OIDC_JWKS_URL set, the services trust that provider instead).
  .venv/bin/carepath-issuer jwks >/dev/null
  for entry in "${services[@]}"; do
    IFS=: read -r name port command <<<"$entry"
    if alive "$name"; then log "$name already running (pid $(pid_of "$name")) on :$port"; continue; fi
    if listening "$port"; then
      log "port $port ($name) is taken by another process, not this clone's $name: stop it first"
      log "(\`make down\` in the clone that started it, or: ss -ltnp 'sport = :$port')"
      exit 1
    fi
    # Migrations first, as the Job before a rollout does: the service refuses a database behind.
    CAREPATH_DEV_MODE=${CAREPATH_DEV_MODE:-true} .venv/bin/carepath-migrate "$name" >>"var/log/$name.log" 2>&1 \
      || { log "$name: carepath-migrate failed; last lines of var/log/$name.log:"; tail -n 20 "var/log/$name.log" >&2; exit 1; }
    log "starting $name on :$port"
    CAREPATH_DEV_MODE=${CAREPATH_DEV_MODE:-true} CAREPATH_HTTP_PORT=$port setsid nohup ".venv/bin/$command" >>"var/log/$name.log" 2>&1 </dev/null &
    echo $! >"var/run/$name.pid"
  done
  for entry in "${services[@]}"; do
    IFS=: read -r name port _ <<<"$entry"
    wait_ready "$name" "$port"
    log "$name ready: http://127.0.0.1:$port"
  done
}

stop() {
  for entry in "${services[@]}"; do
    IFS=: read -r name _ _ <<<"$entry"
    if alive "$name"; then
      local pid; pid=$(pid_of "$name")
      log "stopping $name (pid $pid)"
      stop_pid "$pid"
    fi
    rm -f "var/run/$name.pid"
  done
}

status() {
  for entry in "${services[@]}"; do
    IFS=: read -r name port _ <<<"$entry"
    if alive "$name"; then echo "$name running (pid $(pid_of "$name")) http://127.0.0.1:$port"; else echo "$name stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
