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
#
# Secured (opt-in; plaintext is the default): KAFKA_SECURITY=sasl_ssl infra/kafka/kafka.sh start
# formats and starts the broker(s) with a SASL_SSL client listener on KAFKA_PORT (SCRAM-SHA-512
# over TLS; see sasl_ssl.properties) and the standard authorizer (nothing without an ACL, super
# user `admin`), then creates a SCRAM user and the ACLs per CarePath service from the topic
# registry (`python -m carepath.chassis.kafka_users apply`, run with KAFKA_PYTHON when set, else
# `uv run python`), exactly as the Strimzi KafkaUsers of deploy/k8s. It keeps in KAFKA_DATA_DIR:
#   tls/ca.crt                          the local CA (clients: CAREPATH_KAFKA_CA_FILE); made once
#                                       with openssl, with the broker's key and certificate
#   credentials/admin.env               the super user's settings (KAFKA_BOOTSTRAP_SERVERS and
#                                       CAREPATH_KAFKA_*), for carepath-topics and operators
#   credentials/carepath-<service>.env  a service's settings (`set -a; . FILE; set +a`), and
#   credentials/carepath-auditor.env    the auditors' read-only ones (carepath-audit)
# A data dir keeps the security it was formatted with (KAFKA_DATA_DIR/security): remove the data
# dir to switch. KAFKA_SECURITY=plaintext (the default) is the broker as before, no credentials.
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
tls="$data/tls"                 # secured: the local CA, the broker's keystore
credentials="$data/credentials" # secured: admin.env and one <user>.env per SCRAM user

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
node_port() { sed -n 's|^advertised.listeners=[A-Z_]*://localhost:||p' "$(node_dir "$1")/server.properties"; }
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
  (
    umask 077 # a secured node's configuration holds the admin password
    template | sed -e "s|@NODE_ID@|$id|g" -e "s|@QUORUM@|$quorum|g" \
      -e "s|@KAFKA_PORT@|${ports[id - 1]}|g" -e "s|@CONTROLLER_PORT@|${controller_ports[id - 1]}|g" \
      -e "s|@DATA_DIR@|$dir|g" -e "s|@REPLICATION_FACTOR@|$rf|g" -e "s|@MIN_ISR@|$min_isr|g" \
      -e "s|@TLS_DIR@|$tls|g" -e "s|@ADMIN_PASSWORD@|${admin_password:-}|g" \
      -e "s|@TLS_PASSWORD@|${tls_password:-}|g" > "$dir/server.properties"
  )
}

template() { # server.properties; secured: with the keys of sasl_ssl.properties replaced by those
  if [ "$security" = plaintext ]; then cat "$here/server.properties"; return; fi
  awk -F= 'NR == FNR { if ($0 ~ /^[a-z]/) secured[$1] = 1; next } !($1 in secured)' \
    "$here/sasl_ssl.properties" "$here/server.properties"
  cat "$here/sasl_ssl.properties"
}

# --- security (KAFKA_SECURITY=sasl_ssl) ---------------------------------------------------------
security=plaintext
admin_password=""
tls_password=""

security_from_env() {
  security=${KAFKA_SECURITY:-plaintext}
  case "$security" in
    plaintext | sasl_ssl) ;;
    *) die "KAFKA_SECURITY must be plaintext or sasl_ssl, not '$security'" ;;
  esac
  local formatted
  formatted=$(cat "$data/security" 2>/dev/null || true)
  if [ -z "$formatted" ] && { [ -f "$data/data/meta.properties" ] || [ -f "$data/node-1/data/meta.properties" ]; }; then
    formatted=plaintext # formatted before secured brokers existed
  fi
  if [ -n "$formatted" ] && [ "$formatted" != "$security" ]; then
    die "$data was formatted with KAFKA_SECURITY=$formatted: use that, or remove $data to start over with $security"
  fi
}

secret() { openssl rand -hex 24; } # hex: safe in properties, JAAS and sed

# The local CA and the broker's key and certificate (SAN localhost, 127.0.0.1), made once.
make_certificates() {
  [ -f "$tls/broker.p12" ] && return 0
  command -v openssl >/dev/null || die "openssl is required for KAFKA_SECURITY=sasl_ssl"
  log "making a local CA and the broker's certificate in $tls"
  rm -rf "$tls" && mkdir -p "$tls" && chmod 700 "$tls"
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -keyout ca.key -out ca.crt \
      -subj "/CN=CarePath local Kafka CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=localhost"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > broker.ext
    openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
      -extfile broker.ext -out broker.crt
    secret > keystore.password
    openssl pkcs12 -export -name broker -in broker.crt -inkey broker.key -certfile ca.crt \
      -out broker.p12.partial -passout "file:keystore.password"
    mv broker.p12.partial broker.p12
    chmod 600 ./*
    chmod 644 ca.crt
  ) >/dev/null 2>&1 || die "making the certificates in $tls failed"
}

prepare_security() { # the secrets of a secured start: certificates, the admin password
  [ "$security" = sasl_ssl ] || return 0
  make_certificates
  mkdir -p "$credentials" && chmod 700 "$credentials"
  [ -s "$credentials/admin.password" ] || (umask 077; secret > "$credentials/admin.password")
  admin_password=$(cat "$credentials/admin.password")
  tls_password=$(cat "$tls/keystore.password")
}

client_env() { # client_env USER PASSWORD: a client's settings for the secured listener
  printf '%s\n' "KAFKA_BOOTSTRAP_SERVERS=$(bootstrap_from_env)" \
    "CAREPATH_KAFKA_SECURITY_PROTOCOL=SASL_SSL" "CAREPATH_KAFKA_SASL_MECHANISM=SCRAM-SHA-512" \
    "CAREPATH_KAFKA_USERNAME=$1" "CAREPATH_KAFKA_PASSWORD=$2" "CAREPATH_KAFKA_CA_FILE=$tls/ca.crt"
}

# The services' SCRAM users and ACLs from the topic registry, applied as admin.
apply_acls() {
  (umask 077; client_env admin "$admin_password" > "$credentials/admin.env")
  local python
  if [ -n "${KAFKA_PYTHON:-}" ]; then python=("$KAFKA_PYTHON")
  else python=("${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}" run --project "$root" --quiet python); fi
  log "creating the services' SCRAM users and ACLs from the topic registry"
  (
    # shellcheck source=/dev/null # written just above
    set -a; . "$credentials/admin.env"; set +a
    cd "$root" && "${python[@]}" -m carepath.chassis.kafka_users apply --credentials-dir "$credentials"
  ) || die "applying the ACLs failed (the broker runs; see above)"
}

format_storage() { # format every node that has no storage yet, with one cluster id
  local id dir cluster_id="" pids=() failed=0 pid scram=()
  if [ "$security" = sasl_ssl ]; then
    scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=$admin_password]")
  fi
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
        -c "$dir/server.properties" "${scram[@]}" >/dev/null
    else # the voters are static (controller.quorum.voters); the nodes format side by side
      java_run "$dir" kafka.tools.StorageTool format -t "$cluster_id" \
        -c "$dir/server.properties" "${scram[@]}" >/dev/null &
      pids+=("$!")
    fi
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" -eq 0 ] || die "formatting the storage failed"
  echo "$security" > "$data/security"
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
  security_from_env
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
  if [ "${#todo[@]}" -eq 0 ]; then
    if [ "$security" = sasl_ssl ]; then prepare_security; apply_acls; fi
    return 0
  fi
  for id in "${todo[@]}"; do
    for port in "${ports[id - 1]}" "${controller_ports[id - 1]}"; do
      listening "$port" && die "port $port is taken by another process (ss -ltnp 'sport = :$port')"
    done
  done
  fetch
  prepare_security
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
  if [ "$security" = sasl_ssl ]; then apply_acls; fi
  log "ready on $(bootstrap_from_env)$([ "$security" = sasl_ssl ] && echo " (SASL_SSL; clients: $credentials/*.env)")"
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
