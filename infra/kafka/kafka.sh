#!/usr/bin/env bash
# The local Apache Kafka broker (KRaft) from the jars on Maven Central: a single node by default,
# or with KAFKA_BROKERS=N a cluster of N nodes that are each broker and controller (N voters).
#
#   infra/kafka/kafka.sh fetch          download the jars once into infra/kafka/.jars (needs Maven)
#   infra/kafka/kafka.sh start          format storage if new, start every node in the background,
#                                       wait until each one is ready
#   infra/kafka/kafka.sh stop           stop every node started from KAFKA_DATA_DIR
#   infra/kafka/kafka.sh status         exit 0 when every node of KAFKA_DATA_DIR runs (a cluster
#                                       prints one line per node)
#   infra/kafka/kafka.sh bootstrap      print the bootstrap servers (localhost:PORT,...)
#   infra/kafka/kafka.sh kill-node ID   SIGKILL node ID, as a crash would (fault tests)
#   infra/kafka/kafka.sh start-node ID  start node ID again on its data, wait until it is ready
#   infra/kafka/kafka.sh pid ID         print node ID's pid (exit 1 when it is not running)
#
# Settings (environment): KAFKA_BROKERS (1), KAFKA_PORT (9092), CONTROLLER_PORT (9093),
# KAFKA_DATA_DIR (var/kafka), KAFKA_HEAP_OPTS (-Xms256m -Xmx768m; -Xms128m -Xmx384m per node of a
# cluster), KAFKA_JVM_OPTS (none; -XX:TieredStopAtLevel=1 for a cluster's nodes),
# KAFKA_START_TIMEOUT seconds (90).
# A single node keeps its data in KAFKA_DATA_DIR/data and its pid in KAFKA_DATA_DIR/kafka.pid.
# A cluster (KAFKA_BROKERS=N > 1): node ID (1..N) in KAFKA_DATA_DIR/node-ID (data, logs, kafka.pid,
# server.properties); clients on KAFKA_PORT..KAFKA_PORT+N-1, controllers on the next N ports
# (three nodes: 9092-9094 and 9095-9097), or on CONTROLLER_PORT.. when it is set, or on the lists
# KAFKA_PORTS / CONTROLLER_PORTS ("p1,p2,p3"); topics get replication factor min(N, 3) and
# min.insync.replicas min(2, that). Only start and bootstrap read KAFKA_BROKERS and the ports;
# the other commands act on what start last set up in KAFKA_DATA_DIR (KAFKA_DATA_DIR/cluster.env).
# Every command is safe to repeat: a second start with a running broker does nothing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
jars="$here/.jars"
data=${KAFKA_DATA_DIR:-$root/var/kafka}
mkdir -p "$data"
data=$(cd "$data" && pwd)
recorded="$data/cluster.env" # brokers=N and bootstrap=... of the cluster start set up last
timeout=${KAFKA_START_TIMEOUT:-90}
started_line="Kafka Server started"

log() { printf 'kafka: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
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

# --- layout -------------------------------------------------------------------------------------
# n: the number of nodes acted on; ports / controller_ports: theirs, indexed by node id - 1.
n=1
ports=()
controller_ports=()

# The layout start sets up, from the environment.
layout_from_env() {
  n=${KAFKA_BROKERS:-1}
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "KAFKA_BROKERS must be a whole number >= 1, not '$n'"
  local base=${KAFKA_PORT:-9092} i
  ports=() controller_ports=()
  if [ -n "${KAFKA_PORTS:-}" ]; then IFS=, read -r -a ports <<<"$KAFKA_PORTS"
  else for ((i = 0; i < n; i++)); do ports+=("$((base + i))"); done; fi
  if [ -n "${CONTROLLER_PORTS:-}" ]; then IFS=, read -r -a controller_ports <<<"$CONTROLLER_PORTS"
  elif [ "$n" -eq 1 ]; then controller_ports=("${CONTROLLER_PORT:-9093}")
  else
    local controller_base=${CONTROLLER_PORT:-$((base + n))}
    for ((i = 0; i < n; i++)); do controller_ports+=("$((controller_base + i))"); done
  fi
  if [ "${#ports[@]}" -ne "$n" ] || [ "${#controller_ports[@]}" -ne "$n" ]; then
    die "KAFKA_PORTS and CONTROLLER_PORTS must list $n ports each (KAFKA_BROKERS=$n)"
  fi
  for i in "${ports[@]}" "${controller_ports[@]}"; do
    [[ $i =~ ^[1-9][0-9]*$ ]] || die "'$i' is not a port number"
  done
}

# The layout start set up last in KAFKA_DATA_DIR (a single node when it never set up a cluster).
layout_recorded() {
  n=1
  if [ -f "$recorded" ]; then n=$(sed -n 's/^brokers=//p' "$recorded"); fi
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "$recorded is damaged: remove it and start again"
}

node_dir() { if [ "$n" -eq 1 ]; then echo "$data"; else echo "$data/node-$1"; fi; }
pidfile() { echo "$(node_dir "$1")/kafka.pid"; }
# A node's client port, from the configuration start wrote for it.
node_port() { sed -n 's|^advertised.listeners=PLAINTEXT://localhost:||p' "$(node_dir "$1")/server.properties"; }
node_ids() { seq 1 "$n"; }
label() { if [ "$n" -gt 1 ]; then echo "node $1 "; fi; } # "node ID " in a cluster's messages
check_id() {
  if ! [[ ${1:-} =~ ^[1-9][0-9]*$ ]] || [ "$1" -gt "$n" ]; then
    die "no node '${1:-}': KAFKA_DATA_DIR=$data has nodes 1..$n"
  fi
}

alive() { # alive PID: the process exists and is not a zombie
  kill -0 "$1" 2>/dev/null && [[ $(ps -o stat= -p "$1" 2>/dev/null) != Z* ]]
}
running() { local f; f=$(pidfile "$1"); [ -f "$f" ] && alive "$(cat "$f")"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# The JVM options of a node: its heap, and for a cluster's nodes the C1 compiler only, so that
# several JVMs start in seconds on a small machine (they serve tests and demos, not load).
jvm_opts() {
  if [ "$n" -eq 1 ]; then echo "${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m} ${KAFKA_JVM_OPTS:-}"
  else echo "${KAFKA_HEAP_OPTS:--Xms128m -Xmx384m} ${KAFKA_JVM_OPTS--XX:TieredStopAtLevel=1}"; fi
}

# --- start --------------------------------------------------------------------------------------
java_run() { # java_run DIR CLASS ARGS...: a Kafka tool with node DIR's logging
  local dir=$1; shift
  # shellcheck disable=SC2046 # the JVM options are several words
  java $(jvm_opts) -cp "$jars/*" -Dlog4j2.configurationFile="$here/log4j2.xml" \
    -Dkafka.logs.dir="$dir/logs" "$@"
}

configure() { # configure ID: write node ID's server.properties
  local id=$1 dir quorum rf min_isr voters="" i
  dir=$(node_dir "$id")
  mkdir -p "$dir/logs"
  if [ "$n" -eq 1 ]; then
    quorum="controller.quorum.bootstrap.servers=localhost:${controller_ports[0]}"
  else
    for ((i = 1; i <= n; i++)); do voters+="${voters:+,}$i@localhost:${controller_ports[i - 1]}"; done
    quorum="controller.quorum.voters=$voters"
  fi
  rf=$((n < 3 ? n : 3))
  min_isr=$((rf < 2 ? rf : 2))
  sed -e "s|@NODE_ID@|$id|g" -e "s|@QUORUM@|$quorum|g" \
      -e "s|@KAFKA_PORT@|${ports[id - 1]}|g" -e "s|@CONTROLLER_PORT@|${controller_ports[id - 1]}|g" \
      -e "s|@DATA_DIR@|$dir|g" -e "s|@REPLICATION_FACTOR@|$rf|g" -e "s|@MIN_ISR@|$min_isr|g" \
      "$here/server.properties" > "$dir/server.properties"
}

format_storage() { # format every node that has no storage yet, with one cluster id
  local id dir cluster_id="" pids=() failed=0 pid
  for id in $(node_ids); do
    dir=$(node_dir "$id")
    if [ -f "$dir/data/meta.properties" ]; then
      cluster_id=$(sed -n 's/^cluster.id=//p' "$dir/data/meta.properties")
    fi
  done
  for id in $(node_ids); do
    dir=$(node_dir "$id")
    [ -f "$dir/data/meta.properties" ] && continue
    [ -n "$cluster_id" ] || cluster_id=$(java_run "$dir" kafka.tools.StorageTool random-uuid)
    log "formatting storage in $dir/data"
    if [ "$n" -eq 1 ]; then # the node is the whole quorum (its voter set is recorded in the log)
      java_run "$dir" kafka.tools.StorageTool format --standalone -t "$cluster_id" \
        -c "$dir/server.properties" >/dev/null
    else # the voters are static (controller.quorum.voters); the nodes format side by side
      java_run "$dir" kafka.tools.StorageTool format -t "$cluster_id" \
        -c "$dir/server.properties" >/dev/null &
      pids+=("$!")
    fi
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" -eq 0 ] || die "formatting the storage failed"
}

declare -A started_before=()
launch() { # launch ID: start node ID in the background
  local id=$1 dir
  dir=$(node_dir "$id")
  started_before[$id]=$(grep -cs "$started_line" "$dir/logs/server.log" || true)
  log "$(label "$id")starting on localhost:$(node_port "$id") (data in $dir)"
  # shellcheck disable=SC2046 # the JVM options are several words
  setsid nohup java $(jvm_opts) -cp "$jars/*" -Dlog4j2.configurationFile="$here/log4j2.xml" \
    -Dkafka.logs.dir="$dir/logs" kafka.Kafka "$dir/server.properties" \
    >> "$dir/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$(pidfile "$id")"
}

ready() { # ready ID: node ID logged that it started (since launch) and takes connections
  local count
  count=$(grep -cs "$started_line" "$(node_dir "$1")/logs/server.log" || true)
  [ "${count:-0}" -gt "${started_before[$1]:-0}" ] && listening "$(node_port "$1")"
}

wait_ready() { # wait_ready ID...: until every node given is ready
  local deadline=$((SECONDS + timeout)) id pending
  while :; do
    pending=()
    for id in "$@"; do ready "$id" || pending+=("$id"); done
    [ "${#pending[@]}" -eq 0 ] && return 0
    for id in "${pending[@]}"; do
      if ! running "$id"; then
        log "$(label "$id")exited while starting; see $(node_dir "$id")/logs/server.log"
        tail -n 20 "$(node_dir "$id")/logs/server.log" >&2 || true
        exit 1
      fi
    done
    if [ $SECONDS -ge $deadline ]; then
      die "$([ "$n" -gt 1 ] && echo "node(s) ${pending[*]} ")not ready after ${timeout}s; see $(node_dir "${pending[0]}")/logs/server.log"
    fi
    sleep 0.5
  done
}

bootstrap_from_env() {
  local out="" port
  for port in "${ports[@]}"; do out+="${out:+,}localhost:$port"; done
  echo "$out"
}

single_running() { [ -f "$data/kafka.pid" ] && alive "$(cat "$data/kafka.pid")"; }
cluster_running() {
  local f
  for f in "$data"/node-*/kafka.pid; do [ -f "$f" ] && alive "$(cat "$f")" && return 0; done
  return 1
}

start() {
  layout_from_env
  if [ "$n" -eq 1 ]; then
    cluster_running && die "a cluster of nodes runs from $data: stop it first (kafka.sh stop, make down)"
    rm -f "$recorded"
  else
    single_running && die "a single broker runs from $data: stop it first (kafka.sh stop, make down)"
    if [ -f "$recorded" ] && [ -f "$data/node-1/data/meta.properties" ] \
       && ! grep -qx "brokers=$n" "$recorded"; then
      die "$data holds a cluster of another size ($(grep '^brokers=' "$recorded")): remove $data/node-* to start $n nodes"
    fi
  fi
  local id port todo=()
  for id in $(node_ids); do
    if running "$id"; then
      log "$(label "$id")already running (pid $(cat "$(pidfile "$id")")) on localhost:${ports[id - 1]}"
    else
      todo+=("$id")
    fi
  done
  [ "${#todo[@]}" -eq 0 ] && return 0
  for id in "${todo[@]}"; do
    for port in "${ports[id - 1]}" "${controller_ports[id - 1]}"; do
      listening "$port" && die "port $port is taken by another process (ss -ltnp 'sport = :$port')"
    done
  done
  fetch
  for id in $(node_ids); do configure "$id"; done
  if [ "$n" -gt 1 ]; then
    printf 'brokers=%s\nbootstrap=%s\n' "$n" "$(bootstrap_from_env)" > "$recorded"
  fi
  format_storage
  for id in "${todo[@]}"; do
    if [ "$n" -eq 1 ]; then : > "$(node_dir "$id")/logs/server.log"; fi
    launch "$id"
  done
  wait_ready "${todo[@]}"
  log "ready on $(bootstrap_from_env)"
}

# --- the other commands -------------------------------------------------------------------------
stop() { # every node found in KAFKA_DATA_DIR, whatever the layout: SIGTERM to all at once
  local f id pid pids=() files=()
  for f in "$data/kafka.pid" "$data"/node-*/kafka.pid; do
    [ -f "$f" ] || continue
    files+=("$f")
    pid=$(cat "$f")
    if alive "$pid"; then
      id=${f%/kafka.pid}; id=${id##*/node-}
      if [ "$f" = "$data/kafka.pid" ]; then log "stopping (pid $pid)"; else log "stopping node $id (pid $pid)"; fi
      pids+=("$pid")
    fi
  done
  for pid in "${pids[@]}"; do stop_pid "$pid" & done
  wait
  [ "${#files[@]}" -eq 0 ] || rm -f "${files[@]}"
}

status() {
  layout_recorded
  if [ "$n" -eq 1 ]; then running 1; return; fi
  local id all=0
  for id in $(node_ids); do
    if running "$id"; then echo "node $id running (pid $(cat "$(pidfile "$id")")) on localhost:$(node_port "$id")"
    else echo "node $id stopped"; all=1; fi
  done
  return "$all"
}

bootstrap() {
  if [ -z "${KAFKA_BROKERS:-}" ] && [ -f "$recorded" ]; then sed -n 's/^bootstrap=//p' "$recorded"
  else layout_from_env; bootstrap_from_env; fi
}

kill_node() {
  layout_recorded; check_id "${1:-}"
  local id=$1 pid deadline=$((SECONDS + 10))
  if ! running "$id"; then log "node $id is not running"; rm -f "$(pidfile "$id")"; return 0; fi
  pid=$(cat "$(pidfile "$id")")
  log "killing node $id (pid $pid) with SIGKILL"
  kill -KILL "$pid"
  while alive "$pid"; do
    [ $SECONDS -lt $deadline ] || die "node $id (pid $pid) still there after SIGKILL"
    sleep 0.1
  done
  rm -f "$(pidfile "$id")"
}

start_node() {
  layout_recorded; check_id "${1:-}"
  local id=$1 dir
  dir=$(node_dir "$id")
  if running "$id"; then log "node $id already running (pid $(cat "$(pidfile "$id")"))"; return 0; fi
  [ -f "$dir/data/meta.properties" ] || die "node $id has no storage in $dir/data: use start"
  launch "$id"
  wait_ready "$id"
  log "node $id ready on localhost:$(node_port "$id")"
}

node_pid() {
  layout_recorded; check_id "${1:-}"
  running "$1" || die "node $1 is not running"
  cat "$(pidfile "$1")"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  bootstrap) bootstrap ;;
  kill-node) kill_node "${2:-}" ;;
  start-node) start_node "${2:-}" ;;
  pid) node_pid "${2:-}" ;;
  *) echo "usage: $0 fetch|start|stop|status|bootstrap|kill-node ID|start-node ID|pid ID" >&2; exit 2 ;;
esac
