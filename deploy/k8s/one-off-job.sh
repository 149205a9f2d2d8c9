#!/usr/bin/env bash
# Run one command once in the cluster, in a pod made from a CarePath service's Deployment: its
# image, settings, Secrets, mounts (public keys, Kafka CA, signing key), hardening and labels, so
# its NetworkPolicy lets it reach what the service reaches (PostgreSQL, Kafka, DNS). Without the
# service's ports, probes and migration initContainer; never Ready, so the service's Service sends
# it no request. Prints its log and exits with the command's status (deploy/README.md, "Operator
# runbook").
#
#   deploy/k8s/one-off-job.sh SERVICE JOB COMMAND [ARGUMENT...]
#   deploy/k8s/one-off-job.sh intake intake-migrate-check carepath-migrate intake --check
#
# NAMESPACE  the namespace (default carepath)
# IMAGE      another image than the Deployment's (e.g. the version you are about to roll out)
# JOB_ENV    a JSON list of container env entries that replace or add to the service's, e.g.
#            '[{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "...", "key": "..."}}}]'
#            ($(VAR) in COMMAND is expanded by Kubernetes from the container's environment, so a
#            secret need never be written into the Job)
# The Job is kept a day (ttlSecondsAfterFinished) for its log; `kubectl delete job JOB` to reuse
# the name. Needs kubectl and jq.
set -euo pipefail

if [ $# -lt 3 ]; then
    sed -n '2,21p' "$0" >&2
    exit 64
fi
service=$1 job=$2
shift 2
namespace=${NAMESPACE:-carepath}

kubectl -n "$namespace" get deployment "carepath-$service" -o json \
    | jq --arg job "$job" --arg image "${IMAGE:-}" --argjson env "${JOB_ENV:-[]}" '
        .spec.template as $pod
        | {
            apiVersion: "batch/v1",
            kind: "Job",
            metadata: {name: $job, labels: {"app.kubernetes.io/part-of": "carepath"}},
            spec: {
              backoffLimit: 0,
              ttlSecondsAfterFinished: 86400,
              template: {
                metadata: {labels: $pod.metadata.labels},
                spec: ($pod.spec
                  | del(.initContainers)
                  | .restartPolicy = "Never"
                  | .containers |= [.[0]
                      | del(.ports, .startupProbe, .livenessProbe, .lifecycle)
                      | .command = $ARGS.positional
                      | if $image != "" then .image = $image else . end
                      | .env = ([.env[] | select(.name as $n | $env | map(.name) | index($n) | not)]
                                + $env)
                      | .readinessProbe = {exec: {command: ["false"]}}])
              }
            }
          }' --args -- "$@" \
    | kubectl -n "$namespace" create -f -

kubectl -n "$namespace" logs -f "job/$job" --pod-running-timeout=5m || true
for _ in $(seq 60); do
    status=$(kubectl -n "$namespace" get job "$job" -o jsonpath='{.status.succeeded}/{.status.failed}')
    case $status in
        1/*) exit 0 ;;
        /[1-9]*)
            code=$(kubectl -n "$namespace" get pods -l "job-name=$job" -o \
                jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}')
            echo "job/$job failed (exit status ${code:-unknown}): kubectl -n $namespace describe job $job" >&2
            case $code in '' | 0 | *[!0-9]*) exit 1 ;; *) exit "$code" ;; esac
            ;;
    esac
    sleep 2
done
echo "job/$job has not ended: kubectl -n $namespace get job $job" >&2
exit 2
