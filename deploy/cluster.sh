#!/usr/bin/env bash
# A Celery cluster on this machine (`make cluster`): Debian's redis-server on 127.0.0.1, two
# Celery workers, one single-run backfill of allocate_sourcing_celery through them, then all stopped
# by process id. The workers share this machine's Dagster instance ($DAGSTER_HOME, sqlite) and
# storage ($DAGSTER_HOME/storage); on several machines, point them at one Postgres instance and
# object storage instead (deploy/README.md).
#
#   deploy/cluster.sh [arguments of `dagster job execute`, e.g. -c run.yaml]
#
# Environment: PYTHON (default .venv/bin/python), DAGSTER_HOME (required, absolute),
# FAIRALLOC_DATA_DIR (inputs), WORKERS (default 2), REDIS_PORT (default: a free port).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
WORKERS=${WORKERS:-2}
: "${DAGSTER_HOME:?set DAGSTER_HOME to an absolute path (make cluster sets it)}"

if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server
  else
    echo "redis-server is missing: sudo apt-get install redis-server" >&2
    exit 1
  fi
fi

PORT=${REDIS_PORT:-$("$PYTHON" -c \
  'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
export FAIRALLOC_CELERY_BROKER="redis://127.0.0.1:$PORT/0"
export FAIRALLOC_CELERY_BACKEND="redis://127.0.0.1:$PORT/1"
RUN_DIR=$(mktemp -d)
CONFIG_DIR=""
PIDS=()

stop() {  # SIGTERM (a worker's warm shutdown), SIGKILL after 30 s; workers first, Redis last
  local i pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ -z "$CONFIG_DIR" ] || rm -rf "$CONFIG_DIR"
  echo "cluster stopped (its logs: $RUN_DIR)" >&2
}
trap stop EXIT

redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no --dir "$RUN_DIR" \
  --logfile "$RUN_DIR/redis.log" &
PIDS+=($!)

# What `dagster-celery worker start -y deploy/celery.yaml` runs, without its wrapper process (so
# that the pid held here is the worker's): the broker settings written as a Python module, then
# `celery worker` on dagster-celery's app with that module on PYTHONPATH.
CONFIG_DIR=$("$PYTHON" -c \
  'import sys; from dagster_celery.cli import get_config_dir; print(get_config_dir(sys.argv[1]))' \
  deploy/celery.yaml)
INCLUDE=$("$PYTHON" -c \
  'from fairalloc.pipelines.executors import PRELOAD_MODULES; print(",".join(PRELOAD_MODULES))')
for i in $(seq "$WORKERS"); do
  PYTHONPATH="$CONFIG_DIR${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m celery -A dagster_celery.app \
    worker --prefetch-multiplier=1 --concurrency=1 --loglevel=INFO -I "$INCLUDE" \
    -n "fairalloc-$i@%h" --without-gossip --without-mingle >"$RUN_DIR/worker-$i.log" 2>&1 &
  PIDS+=($!)
done

echo "redis-server on 127.0.0.1:$PORT; waiting for $WORKERS workers (logs in $RUN_DIR)" >&2
"$PYTHON" - "$WORKERS" <<'EOF'
import os, sys, time
from celery import Celery
app, deadline = Celery(broker=os.environ["FAIRALLOC_CELERY_BROKER"]), time.monotonic() + 180
while len(app.control.ping(timeout=0.5)) < int(sys.argv[1]):
    if time.monotonic() > deadline:
        sys.exit("the workers did not answer within 180 s")
EOF

# register the data's (commodity, year) groups as partitions; the run covers all of them
RANGE=$("$PYTHON" -c '
import json, dagster as dg
from fairalloc.pipelines.jobs import range_tags
from fairalloc.pipelines.resources import DataDir
from fairalloc.pipelines.sensors import sync
with dg.DagsterInstance.get() as instance:
    print(json.dumps(range_tags(sync(instance, DataDir())["sourcing_groups"])))')

start=$(date +%s%N)
"$PYTHON" -m dagster job execute -m fairalloc.pipelines -j allocate_sourcing_celery \
  --tags "$RANGE" "$@"
echo "allocate_sourcing_celery (a single-run backfill of every sourcing partition):" \
  "$((($(date +%s%N) - start) / 1000000)) ms through $WORKERS workers" >&2
