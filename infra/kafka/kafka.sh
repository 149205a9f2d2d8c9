#!/usr/bin/env bash
# The local Apache Kafka broker (single node, KRaft) from the jars on Maven Central.
#
#   infra/kafka/kafka.sh fetch    download the jars once into infra/kafka/.jars (needs Maven)
#   infra/kafka/kafka.sh start    format storage if new, start in the background, wait until ready
#   infra/kafka/kafka.sh stop     stop the broker started from KAFKA_DATA_DIR
#   infra/kafka/kafka.sh status   exit 0 when the broker of KAFKA_DATA_DIR is running
#
# Settings (environment): KAFKA_PORT (9092), CONTROLLER_PORT (9093), KAFKA_DATA_DIR (var/kafka),
# KAFKA_HEAP_OPTS (-Xms256m -Xmx768m), KAFKA_START_TIMEOUT seconds (90).
# Every command is safe to repeat: a second start with a running broker does nothing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
jars="$here/.jars"
port=${KAFKA_PORT:-9092}
controller_port=${CONTROLLER_PORT:-9093}
data=${KAFKA_DATA_DIR:-$root/var/kafka}
mkdir -p "$data"
data=$(cd "$data" && pwd)
pidfile="$data/kafka.pid"
heap=${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}
timeout=${KAFKA_START_TIMEOUT:-90}

log() { printf 'kafka: %s\n' "$*" >&2; }
# shellcheck source=../lib.sh
. "$here/../lib.sh"

fetch() {
  if [ -f "$jars/.complete" ]; then return 0; fi
  command -v java >/dev/null || { log "Java 17+ is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
  command -v mvn >/dev/null || { log "Maven is required to fetch the broker jars (apt-get install maven)"; exit 1; }
  log "fetching the Apache Kafka jars from Maven Central into $jars (once)"
  rm -rf "$jars.partial"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$jars.partial" -DincludeScope=runtime
  rm -rf "$jars" && mv "$jars.partial" "$jars" && touch "$jars/.complete"
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

java_run() { java $heap -cp "$jars/*" -Dlog4j2.configurationFile="$here/log4j2.xml" \
  -Dkafka.logs.dir="$data/logs" "$@"; }

configure() {
  sed -e "s|@KAFKA_PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
      -e "s|@DATA_DIR@|$data|g" "$here/server.properties" > "$data/server.properties"
  if [ ! -f "$data/data/meta.properties" ]; then
    log "formatting storage in $data/data"
    local cluster_id
    cluster_id=$(java_run kafka.tools.StorageTool random-uuid)
    java_run kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$data/server.properties" >/dev/null
  fi
}

wait_ready() {
  local deadline=$((SECONDS + timeout))
  until grep -qs "Kafka Server started" "$data/logs/server.log" \
        && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! running; then log "the broker exited while starting; see $data/logs/server.log"; \
      tail -n 20 "$data/logs/server.log" >&2 || true; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then log "not ready after ${timeout}s; see $data/logs/server.log"; exit 1; fi
    sleep 0.5
  done
}

start() {
  if running; then log "already running (pid $(cat "$pidfile")) on localhost:$port"; return 0; fi
  fetch
  configure
  mkdir -p "$data/logs"
  : > "$data/logs/server.log"
  log "starting on localhost:$port (data in $data)"
  setsid nohup java $heap -cp "$jars/*" -Dlog4j2.configurationFile="$here/log4j2.xml" \
    -Dkafka.logs.dir="$data/logs" kafka.Kafka "$data/server.properties" \
    > "$data/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  wait_ready
  log "ready on localhost:$port"
}

stop() {
  if ! running; then rm -f "$pidfile"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  log "stopping (pid $pid)"
  stop_pid "$pid"
  rm -f "$pidfile"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) running ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
