# Shared by the infra scripts: stop a background process the way Kubernetes would.

# stop_pid PID: SIGTERM, wait up to 30 s for a graceful exit, then SIGKILL.
stop_pid() {
  local pid=$1 deadline=$((SECONDS + 30))
  kill "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then kill -9 "$pid" 2>/dev/null || true; break; fi
    sleep 0.2
  done
}
