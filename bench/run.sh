#!/usr/bin/env bash
# The benchmark harness behind `make bench`: bench/run.sh BUILD_DIR
#
# Measures, on this machine, with fsync on, every figure next to its baseline in the same run:
#   1. durable ingest of the queue (batch 1, 64, 1024) beside the raw fsync'd-append rate of
#      the same disk (bench/queue_bench.cpp);
#   2. the receiver's own capacity (nginx `return 204;`, wrk or a Python fallback);
#   3. files -> webhook end to end through `sluice run` at RATE files/s and at saturation,
#      beside the naive `inotifywait -m -r | curl` pipeline on the same workloads;
#   4. sluice's peak RSS idle and with PENDING (1,000,000) pending deliveries;
#   5. object stores (`type: s3`, bench/s3_bench.py against tests/integration/fake_s3.py):
#      SQS messages/s, ListObjectsV2 scan objects/s and push requests/s through `sluice once`,
#      beside a plain Python client on the same fake (SQS, listing) and nginx (push);
#   6. federated storage (bench/federated_bench.py against tests/integration/fake_dcache.py and
#      fake_onedata.py): files/s one dCache SSE stream and one Onedata changes stream carry into
#      the queue, and a 100,000-entry dCache tree reconciled, beside a Python reader / lister
#      of the same fake and the fake's own pace. It writes its own block, after the Results.
#   7. FaaS invocations (bench/invoke_bench.py against tests/integration/fake_oscar.py and
#      fake_lambda.py): deliveries/s and per-attempt latency of a `type: oscar` and a
#      `type: lambda` sink at concurrency 1, 8 and 64 with the fake answering in 1 ms and in
#      50 ms, beside a Python client's requests/s against the same fake at the same concurrency
#      and delay. It writes its own block, after the federated one.
#   8. supervisor jobs (bench/jobs_bench.py, a no-op C job, bench/noop_job.c): commit -> job
#      start latency (p50 / p99) of a `type: supervisor` sink at a paced 50 files/s, and its
#      jobs/s at concurrency 1 and 16 from a filled queue, beside a plain posix_spawn() loop
#      of the same program (bench/spawn_loop.c) at the same pace and concurrencies. It writes
#      its own block, after the invoke one.
# Each measurement runs BENCH_RUNS (3) times; bench/README.md's results section is rewritten
# from the figures (min / median / max), and the raw JSON lines go to bench/last-run.jsonl.
#
# Everything happens in a temp dir on the disk under test (BENCH_TMPDIR, else TMPDIR, else
# /tmp); every server listens on 127.0.0.1 on a free port; the trap stops what was started.
# Knobs (environment): BENCH_RUNS, BENCH_CONCURRENCY, BENCH_RATE, BENCH_RATE_SECONDS,
# BENCH_BURST, BENCH_NAIVE_BURST, BENCH_PENDING, BENCH_QUEUE_SECONDS, BENCH_KEEP=1 (keep the
# temp dir), BENCH_UPDATE_README=0 (leave bench/README.md and bench/last-run.jsonl alone),
# BENCH_SLUICE_BIN (measure another sluice binary), BENCH_RT=0 (see below),
# BENCH_ONLY="queue e2e idle pending s3 federated invoke jobs" (a subset of the sections; the README is then not
# rewritten -- except the s3 block of its Results when s3 is in the subset), BENCH_NAIVE=0 (skip
# the naive pipeline), BENCH_SQS_MESSAGES, BENCH_SCAN_OBJECTS, BENCH_PUSH_SECONDS,
# BENCH_PUSH_CONNECTIONS (the s3 section), BENCH_FED_FILES (5000 per stream run) and
# BENCH_FED_TREE (100000; the federated section), BENCH_INVOKE_EVENTS (2000: the most events per
# cell of the invoke section; fewer where the fake's delay makes a cell longer than ~3 s),
# BENCH_JOBS_LATENCY (300 jobs at 50 files/s), BENCH_JOBS_C1 (500) and BENCH_JOBS_C16 (1000;
# jobs per throughput cell of the jobs section).
#
# Scheduling: these machines are shared, and under CPU contention every wake-up (after each
# fsync, each inotify event, each HTTP answer) waits a whole scheduler slice (~3 ms on EEVDF,
# whatever the nice value) -- that, not sluice or the disk, would be measured. So when allowed
# (root or CAP_SYS_NICE), the harness re-executes itself under SCHED_RR priority 1 (chrt), which
# every process it starts inherits -- baselines, receiver and load generators included.
# BENCH_RT=0 measures under the default policy instead; the README records which one was used.
set -euo pipefail
if [ "${BENCH_RT:-1}" != 0 ] && [ -z "${SLUICE_BENCH_RT:-}" ] && command -v chrt >/dev/null &&
  chrt -r 1 true 2>/dev/null; then
  SLUICE_BENCH_RT=1 exec chrt -r 1 "$0" "$@"
fi

[ $# -ge 1 ] || { echo "usage: bench/run.sh BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
cd "$ROOT"
BUILD=$(cd "$1" && pwd)
SLUICE=${BENCH_SLUICE_BIN:-$BUILD/sluice}  # another build of the daemon, for A/B comparisons
QBENCH=$BUILD/sluice_queue_bench
FLOOR=$BUILD/sluice_rss_floor

RUNS=${BENCH_RUNS:-3}
CONCURRENCY=${BENCH_CONCURRENCY:-32}
RATE=${BENCH_RATE:-100}
RATE_SECONDS=${BENCH_RATE_SECONDS:-10}
BURST=${BENCH_BURST:-20000}
NAIVE_BURST=${BENCH_NAIVE_BURST:-$BURST}
PENDING=${BENCH_PENDING:-1000000}
QUEUE_SECONDS=${BENCH_QUEUE_SECONDS:-1.5}
CAPACITY_SECONDS=${BENCH_CAPACITY_SECONDS:-5}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-10}
PENDING_SECONDS=${BENCH_PENDING_SECONDS:-15}
BACKLOG_SECONDS=${BENCH_BACKLOG_SECONDS:-25}
SQS_MESSAGES=${BENCH_SQS_MESSAGES:-20000}
SCAN_OBJECTS=${BENCH_SCAN_OBJECTS:-100000}
PUSH_SECONDS=${BENCH_PUSH_SECONDS:-5}
PUSH_CONNECTIONS=${BENCH_PUSH_CONNECTIONS:-32}
FED_FILES=${BENCH_FED_FILES:-5000}
FED_TREE=${BENCH_FED_TREE:-100000}
INVOKE_EVENTS=${BENCH_INVOKE_EVENTS:-2000}
JOBS_LATENCY=${BENCH_JOBS_LATENCY:-300}
JOBS_C1=${BENCH_JOBS_C1:-500}
JOBS_C16=${BENCH_JOBS_C16:-1000}
UPDATE_README=${BENCH_UPDATE_README:-1}
ALL_SECTIONS="queue e2e idle pending s3 federated invoke jobs"
read -r -a ONLY_LIST <<<"${BENCH_ONLY:-$ALL_SECTIONS}"
ONLY="${ONLY_LIST[*]}"  # one space between names
NAIVE=${BENCH_NAIVE:-1}
want() { [[ " $ONLY " == *" $1 "* ]]; }
# The bench nginx (receiver, webhook target) serves these sections; federated and invoke run
# their own fakes, and jobs no server at all.
need_nginx() { want e2e || want idle || want pending || want s3; }
# What bench/README.md gets: the whole Results section after a full run; after a subset that
# includes s3, only the s3 block inside it (the other figures stay those of their own run).
README_PART=none
if [ "$UPDATE_README" = 1 ]; then
  if [ "$ONLY" = "$ALL_SECTIONS" ] && [ "$NAIVE" = 1 ]; then README_PART=all
  elif want s3; then README_PART=s3; fi
fi
if [ -n "${MAKELEVEL:-}" ]; then COMMAND="make bench"; else COMMAND="bench/run.sh $1"; fi

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 3))" "$1" "$2"; }
freeport() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

for tool in python3 curl $(need_nginx && echo nginx) $(want e2e && echo inotifywait) $(want jobs && echo cc); do
  command -v "$tool" >/dev/null || die "$tool is missing (./scripts/install-deps.sh bench installs it)"
done
[ -x "$SLUICE" ] || die "$SLUICE is missing: build first (make build)"
if want queue || want idle || want pending; then
  log "building sluice_queue_bench and sluice_rss_floor in $BUILD"
  if ! out=$(cmake --build "$BUILD" --target sluice_queue_bench sluice_rss_floor -j"$(nproc)" 2>&1); then
    printf '%s\n' "$out" >&2
    die "cannot build sluice_queue_bench"
  fi
fi

T=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/sluice-bench.XXXXXX")
RESULTS=$T/results.jsonl
: >"$RESULTS"
PIDS=()   # processes this script started and has not reaped yet
PGIDS=()  # process groups it started (the naive pipelines)
forget() {  # forget a reaped pid / pgid, so the trap never signals a reused number
  local p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  keep=()
  for p in "${PGIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PGIDS=("${keep[@]}")
}
cleanup() {
  local rc=$? p
  set +e
  for p in "${PGIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PGIDS[@]}" "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

START=$(now)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
PSI_BEFORE=$(awk '/^some/ {sub("avg60=", "", $3); print $3 "%"}' /proc/pressure/cpu 2>/dev/null || echo "n/a")
SCHED_POLICY=$(chrt -p $$ 2>/dev/null | awk -F': ' '/policy/ {print $2}' | head -1)
SCHED_PRIO=$(chrt -p $$ 2>/dev/null | awk -F': ' '/priority/ {print $2}' | head -1)
log "scheduling policy $SCHED_POLICY (priority $SCHED_PRIO); CPU pressure from other work (PSI some avg60) $PSI_BEFORE"
FSTYPE=$(df -PT "$T" | awk 'NR==2 {print $2}')
case "$FSTYPE" in tmpfs|ramfs) log "WARNING: $T is on $FSTYPE: fsync costs nothing there; set BENCH_TMPDIR to a real disk" ;; esac
log "temp dir $T ($FSTYPE); $RUNS runs of each measurement"

# --- the receiver: nginx with a private prefix and config ------------------------------------
if need_nginx; then
NG=$T/nginx
mkdir -p "$NG/tmp"
NGPORT=$(freeport)
NG503=$(freeport)
cat >"$NG/nginx.conf" <<EOF
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  log_format bench '\$msec \$http_ce_subject';
  server {
    listen 127.0.0.1:$NGPORT;
    location = /nginx_status { stub_status; }
    location /capacity { access_log $NG/capacity.log bench buffer=64k flush=100ms; return 204; }
    location /ingest/ { access_log off; return 204; }
    location / { access_log $NG/access.log bench buffer=64k flush=100ms; return 204; }
  }
  server {
    listen 127.0.0.1:$NG503;
    location / { return 503; }
  }
}
EOF
nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" -t -q || die "nginx config test"
nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" -g 'daemon off;' &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGPORT/ready" || true)" = 204 ] && break
  sleep 0.05
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NG503/" || true)" = 503 ] || die "nginx did not start"
HOOK=http://127.0.0.1:$NGPORT/hook
ACCESS=$NG/access.log
log "nginx on 127.0.0.1:$NGPORT (204) and 127.0.0.1:$NG503 (503)"
fi

# --- sluice helpers -----------------------------------------------------------------------------
write_config() {  # DIR URL: a local source on DIR/inbox, a webhook sink to URL
  local dir=$1 url=$2
  mkdir -p "$dir/inbox"
  cat >"$dir/sluice.yaml" <<EOF
state_dir: $dir/state
log: {level: info, format: text}
http:
  listen: 127.0.0.1:$(freeport)
delivery:
  concurrency: $CONCURRENCY
sources:
  - name: inbox
    type: local
    path: $dir/inbox
    recursive: true
    events: [created]
sinks:
  - name: hook
    type: webhook
    url: $url
    format: cloudevents-binary
routes:
  - from: [inbox]
    to: [hook]
EOF
}
# DIR/backlog.yaml: the same state dir and source, the backlogged sink `hook` kept, and the
# source routed to a second, healthy sink `fast` instead.
write_backlog_config() {  # DIR DOWN_URL UP_URL
  local dir=$1
  cat >"$dir/backlog.yaml" <<EOF
state_dir: $dir/state
log: {level: info, format: text}
http:
  listen: 127.0.0.1:$(freeport)
delivery:
  concurrency: $CONCURRENCY
sources:
  - name: inbox
    type: local
    path: $dir/inbox
    recursive: true
    events: [created]
sinks:
  - name: hook
    type: webhook
    url: $2
    format: cloudevents-binary
  - name: fast
    type: webhook
    url: $3
    format: cloudevents-binary
routes:
  - from: [inbox]
    to: [fast]
EOF
}
http_port() { sed -n 's/^  listen: 127.0.0.1:\([0-9]*\)$/\1/p' "$1/${2:-sluice.yaml}"; }

SLUICE_PID=
STARTUP_S=
start_sluice() {  # DIR [CONFIG]: starts sluice run, waits until it logs "running"
  local dir=$1 t0 deadline
  t0=$(now)
  "$SLUICE" run -c "$dir/${2:-sluice.yaml}" 2>"$dir/sluice.log" &
  SLUICE_PID=$!
  PIDS+=("$SLUICE_PID")
  deadline=$((SECONDS + 300))
  until grep -q ' running: ' "$dir/sluice.log" 2>/dev/null; do
    if ! kill -0 "$SLUICE_PID" 2>/dev/null || ((SECONDS > deadline)); then
      cat "$dir/sluice.log" >&2
      die "sluice did not start"
    fi
    sleep 0.02
  done
  STARTUP_S=$(elapsed "$t0" "$(now)")
}
stop_sluice() {
  kill -TERM "$SLUICE_PID" 2>/dev/null || true
  wait "$SLUICE_PID" || true
  forget "$SLUICE_PID"
  SLUICE_PID=
}
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
pss_kb() { awk '$1 == "Pss:" {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo null; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric_sum() {  # DIR NAME...: sum of the named counters on sluice's /metrics
  local dir=$1
  shift
  curl -s "http://127.0.0.1:$(http_port "$dir")/metrics" |
    awk -v names=" $* " '$1 !~ /^#/ {n = $1; sub(/\{.*/, "", n); if (index(names, " " n " ")) s += $2} END {print s + 0}'
}
CLK_TCK=$(getconf CLK_TCK)
log_offset() { stat -c %s "$ACCESS"; }
# Connections nginx accepted so far (stub_status); the query's own connection is counted too.
nginx_accepts() { curl -s "http://127.0.0.1:$NGPORT/nginx_status" | awk 'NR == 3 {print $1}'; }

# --- 1. durable ingest vs raw fsync'd append ------------------------------------------------------
want queue && for run in $(seq "$RUNS"); do
  log "queue ingest vs raw fsync'd append, run $run/$RUNS"
  "$QBENCH" --dir "$T/queue" --seconds "$QUEUE_SECONDS" --root "$T/files/inbox" --run "$run" >>"$RESULTS"
done

# --- 2 + 3. receiver capacity; end to end, sluice next to the naive pipeline ---------------------
if command -v wrk >/dev/null; then
  LOADGEN="wrk (1 thread)"
  cat >"$T/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["ce-subject"] = "/capacity"
EOF
else
  LOADGEN="bench/loadgen.py (Python threads: a lower bound; install wrk for a real figure)"
fi
capacity() {
  local run=$1 rps
  if command -v wrk >/dev/null; then
    rps=$(wrk -t1 -c"$CONCURRENCY" -d"${CAPACITY_SECONDS}s" -s "$T/post.lua" "http://127.0.0.1:$NGPORT/capacity" |
      awk '/^Requests\/sec/ {print $2}')
  else
    rps=$(python3 "$HERE/loadgen.py" --url "http://127.0.0.1:$NGPORT/capacity" \
      --connections "$CONCURRENCY" --seconds "$CAPACITY_SECONDS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["req_per_s"])')
  fi
  printf '{"bench":"receiver","tool":"%s","connections":%s,"req_per_s":%s,"run":"%s"}\n' \
    "$LOADGEN" "$CONCURRENCY" "${rps:-null}" "$run" >>"$RESULTS"
}

# The burst is written to a staging directory first and then renamed into the inbox as fast as
# possible (bench/writer.py --stage), so that the writer, not the pipeline, is never the limit.
writer_args() {  # WORKLOAD DIR
  if [ "$1" = burst ]; then echo "--stage $2/stage"; fi
}

e2e_sluice() {  # RUN WORKLOAD COUNT RATE
  local run=$1 wl=$2 count=$3 rate=$4 d off c0 c1 hwm overflows a0 a1
  d=$T/sluice-$wl-$run
  write_config "$d" "$HOOK"
  start_sluice "$d"
  off=$(log_offset)
  a0=$(nginx_accepts)
  c0=$(cpu_ticks "$SLUICE_PID")
  # shellcheck disable=SC2046
  python3 "$HERE/writer.py" --dir "$d/inbox" --count "$count" --rate "$rate" --out "$d/writes.tsv" $(writer_args "$wl" "$d")
  python3 "$HERE/report.py" wait --writes "$d/writes.tsv" --log "$ACCESS" --offset "$off" --stall 30
  c1=$(cpu_ticks "$SLUICE_PID")
  a1=$(nginx_accepts)
  hwm=$(status_kb "$SLUICE_PID" VmHWM)
  overflows=$(metric_sum "$d" sluice_local_overflows_total)
  stop_sluice
  python3 "$HERE/report.py" e2e --writes "$d/writes.tsv" --log "$ACCESS" --offset "$off" \
    --stall 0 --timeout 0 --system sluice --workload "$wl" --run "$run" \
    --extra "{\"cpu_ms_per_file\": $(python3 -c "print(($c1 - $c0) * 1000 / $CLK_TCK / $count)"), \"vmhwm_kb\": $hwm, \"overflows\": $overflows, \"concurrency\": $CONCURRENCY, \"connections\": $((a1 - a0 - 1))}" \
    >>"$RESULTS"
}

e2e_naive() {  # RUN WORKLOAD COUNT RATE
  local run=$1 wl=$2 count=$3 rate=$4 d off g deadline a0 a1
  d=$T/naive-$wl-$run
  mkdir -p "$d/inbox"
  # Exactly the pipeline of the issue; inotifywait's "Watches established." tells it is ready.
  setsid bash -c 'inotifywait -m -r -e close_write,moved_to --format "%w%f" "$1" 2>"$2/inotifywait.err" |
    while read f; do curl -s -o /dev/null -X POST -H "ce-subject: $f" -d "{}" "$3"; done' \
    naive "$d/inbox" "$d" "$HOOK" &
  g=$!
  PGIDS+=("$g")
  for _ in $(seq 100); do  # setsid makes it the leader of a new group (killed as one below)
    [ "$(ps -o pgid= -p "$g" | tr -d ' ')" = "$g" ] && break
    sleep 0.01
  done
  [ "$(ps -o pgid= -p "$g" | tr -d ' ')" = "$g" ] || die "the naive pipeline has no process group of its own"
  deadline=$((SECONDS + 60))
  until grep -q 'Watches established' "$d/inotifywait.err" 2>/dev/null; do
    ((SECONDS < deadline)) || die "inotifywait did not start"
    sleep 0.02
  done
  off=$(log_offset)
  a0=$(nginx_accepts)
  # shellcheck disable=SC2046
  python3 "$HERE/writer.py" --dir "$d/inbox" --count "$count" --rate "$rate" --out "$d/writes.tsv" $(writer_args "$wl" "$d")
  python3 "$HERE/report.py" wait --writes "$d/writes.tsv" --log "$ACCESS" --offset "$off" --stall 15
  a1=$(nginx_accepts)
  kill -TERM -- "-$g" 2>/dev/null || true
  wait "$g" 2>/dev/null || true
  forget "$g"
  python3 "$HERE/report.py" e2e --writes "$d/writes.tsv" --log "$ACCESS" --offset "$off" \
    --stall 0 --timeout 0 --system naive --workload "$wl" --run "$run" \
    --extra "{\"connections\": $((a1 - a0 - 1))}" >>"$RESULTS"
}

want e2e && for run in $(seq "$RUNS"); do
  log "receiver capacity alone ($LOADGEN, $CONCURRENCY connections, ${CAPACITY_SECONDS}s), run $run/$RUNS"
  capacity "$run"
  log "end to end at $RATE files/s for ${RATE_SECONDS}s: sluice, run $run/$RUNS"
  e2e_sluice "$run" rate $((RATE * RATE_SECONDS)) "$RATE"
  if [ "$NAIVE" = 1 ]; then
    log "end to end at $RATE files/s for ${RATE_SECONDS}s: naive pipeline, run $run/$RUNS"
    e2e_naive "$run" rate $((RATE * RATE_SECONDS)) "$RATE"
  fi
  log "end to end saturation, $BURST files: sluice, run $run/$RUNS"
  e2e_sluice "$run" burst "$BURST" 0
  if [ "$NAIVE" = 1 ]; then
    log "end to end saturation, $NAIVE_BURST files: naive pipeline, run $run/$RUNS"
    e2e_naive "$run" burst "$NAIVE_BURST" 0
  fi
  rm -rf "$T"/sluice-*-"$run" "$T"/naive-*-"$run"
done

# --- 4. memory -------------------------------------------------------------------------------
want idle && for run in $(seq "$RUNS"); do
  log "RSS idle (${IDLE_SECONDS}s, no files), run $run/$RUNS"
  d=$T/idle-$run
  write_config "$d" "$HOOK"
  start_sluice "$d"
  sleep "$IDLE_SECONDS"
  printf '{"bench":"rss","state":"idle","vmhwm_kb":%s,"vmrss_kb":%s,"rssanon_kb":%s,"rssfile_kb":%s,"pss_kb":%s,"startup_s":%s,"seconds":%s,"run":"%s"}\n' \
    "$(status_kb "$SLUICE_PID" VmHWM)" "$(status_kb "$SLUICE_PID" VmRSS)" "$(status_kb "$SLUICE_PID" RssAnon)" \
    "$(status_kb "$SLUICE_PID" RssFile)" "$(pss_kb "$SLUICE_PID")" "$STARTUP_S" "$IDLE_SECONDS" "$run" >>"$RESULTS"
  stop_sluice
  # The same libraries, initialised the same way, without sluice: the floor of the figure above.
  mkdir -p "$d/floor"
  "$FLOOR" "$d/floor" 2>/dev/null &
  FLOOR_PID=$!
  PIDS+=("$FLOOR_PID")
  sleep 2
  printf '{"bench":"rss","state":"floor","vmhwm_kb":%s,"vmrss_kb":%s,"rssanon_kb":%s,"rssfile_kb":%s,"pss_kb":%s,"seconds":2,"run":"%s"}\n' \
    "$(status_kb "$FLOOR_PID" VmHWM)" "$(status_kb "$FLOOR_PID" VmRSS)" "$(status_kb "$FLOOR_PID" RssAnon)" \
    "$(status_kb "$FLOOR_PID" RssFile)" "$(pss_kb "$FLOOR_PID")" "$run" >>"$RESULTS"
  kill -TERM "$FLOOR_PID"
  wait "$FLOOR_PID" || true
  forget "$FLOOR_PID"
done

d=$T/pending
if want pending; then
  write_config "$d" "http://127.0.0.1:$NG503/hook"
  log "filling $d/state/queue.db with $PENDING pending deliveries"
  "$QBENCH" --mode fill --db "$d/state/queue.db" --fill "$PENDING" --source inbox --sink hook \
    --root "$d/inbox" >>"$RESULTS"
fi
want pending && for run in $(seq "$RUNS"); do
  log "RSS with $PENDING pending deliveries, receiver answering 503 (${PENDING_SECONDS}s), run $run/$RUNS"
  start_sluice "$d"
  sleep "$PENDING_SECONDS"
  attempts=$(metric_sum "$d" sluice_deliveries_done_total sluice_deliveries_retried_total sluice_deliveries_dead_total)
  printf '{"bench":"rss","state":"pending","pending":%s,"vmhwm_kb":%s,"vmrss_kb":%s,"rssanon_kb":%s,"rssfile_kb":%s,"pss_kb":%s,"startup_s":%s,"seconds":%s,"attempts":%s,"run":"%s"}\n' \
    "$PENDING" "$(status_kb "$SLUICE_PID" VmHWM)" "$(status_kb "$SLUICE_PID" VmRSS)" "$(status_kb "$SLUICE_PID" RssAnon)" \
    "$(status_kb "$SLUICE_PID" RssFile)" "$(pss_kb "$SLUICE_PID")" "$STARTUP_S" "$PENDING_SECONDS" "$attempts" "$run" >>"$RESULTS"
  stop_sluice
  t0=$(now)
  "$SLUICE" queue stats --json -c "$d/sluice.yaml" >"$d/stats.json"
  t1=$(now)
  python3 - "$d/stats.json" "$(elapsed "$t0" "$t1")" "$run" >>"$RESULTS" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
h = s["sinks"]["hook"]
print(json.dumps({"bench": "queue_stats", "seconds": float(sys.argv[2]), "pending": h["pending"],
                  "dead": h["dead"], "run": sys.argv[3]}))
EOF
  # The same daemon, its backlog still there, also serving a healthy sink: does a big queue
  # hurt the latency of deliveries that have nothing to do with it?
  log "$RATE files/s for ${BACKLOG_SECONDS}s to a healthy sink while $PENDING deliveries of another sink are pending, run $run/$RUNS"
  write_backlog_config "$d" "http://127.0.0.1:$NG503/hook" "$HOOK"
  start_sluice "$d" backlog.yaml
  off=$(log_offset)
  python3 "$HERE/writer.py" --dir "$d/inbox" --count $((RATE * BACKLOG_SECONDS)) --rate "$RATE" \
    --prefix "backlog$run" --out "$d/writes-$run.tsv"
  python3 "$HERE/report.py" wait --writes "$d/writes-$run.tsv" --log "$ACCESS" --offset "$off" --stall 30
  stop_sluice
  python3 "$HERE/report.py" e2e --writes "$d/writes-$run.tsv" --log "$ACCESS" --offset "$off" \
    --stall 0 --timeout 0 --system sluice --workload backlog --run "$run" \
    --extra "{\"concurrency\": $CONCURRENCY, \"backlog\": $PENDING}" >>"$RESULTS"
done

# --- 5. object stores: type s3 (SQS, scan, push) through sluice once, beside their baselines ----
S3_START=$(now)
want s3 && for run in $(seq "$RUNS"); do
  d=$T/s3-$run
  log "object store, SQS: $SQS_MESSAGES messages, Python client then sluice once, run $run/$RUNS"
  python3 "$HERE/s3_bench.py" sqs --sluice "$SLUICE" --dir "$d" --hook "$HOOK" \
    --messages "$SQS_MESSAGES" --run "$run" >>"$RESULTS"
  log "object store, scan: $SCAN_OBJECTS objects, Python ListObjectsV2 then sluice once twice, run $run/$RUNS"
  python3 "$HERE/s3_bench.py" scan --sluice "$SLUICE" --dir "$d" --hook "$HOOK" \
    --access-log "$ACCESS" --objects "$SCAN_OBJECTS" --run "$run" >>"$RESULTS"
  log "object store, push: $PUSH_CONNECTIONS connections for ${PUSH_SECONDS}s, sluice once then nginx, run $run/$RUNS"
  python3 "$HERE/s3_bench.py" push --sluice "$SLUICE" --dir "$d" --hook "$HOOK" \
    --baseline-url "http://127.0.0.1:$NGPORT/ingest/rgw" --seconds "$PUSH_SECONDS" \
    --connections "$PUSH_CONNECTIONS" --run "$run" >>"$RESULTS"
  rm -rf "$d"
done
S3_END=$(now)

# --- 6. federated storage: dCache and Onedata streams, a dCache tree reconciled ----------------
if want federated; then
  log "federated storage: $FED_FILES files per stream, a tree of $FED_TREE files, $RUNS runs"
  fed_readme=()
  [ "$UPDATE_README" = 1 ] && fed_readme=(--readme "$HERE/README.md")
  python3 "$HERE/federated_bench.py" all --sluice "$SLUICE" --dir "$T/federated" \
    --files "$FED_FILES" --tree "$FED_TREE" --runs "$RUNS" "${fed_readme[@]}" >>"$RESULTS"
  rm -rf "$T/federated"
fi

# --- 7. FaaS invocations: OSCAR and Lambda sinks against their fakes, beside the fakes alone --
if want invoke; then
  log "FaaS invocations: OSCAR and Lambda, fake delay 1 and 50 ms, concurrency 1, 8 and 64, up to $INVOKE_EVENTS events per cell, $RUNS runs"
  inv_readme=()
  [ "$UPDATE_README" = 1 ] && inv_readme=(--readme "$HERE/README.md")
  python3 "$HERE/invoke_bench.py" all --sluice "$SLUICE" --dir "$T/invoke" \
    --events "$INVOKE_EVENTS" --runs "$RUNS" "${inv_readme[@]}" >>"$RESULTS"
  rm -rf "$T/invoke"
fi

# --- 8. supervisor jobs: a no-op job through a `type: supervisor` sink, beside posix_spawn ----
if want jobs; then
  log "supervisor jobs: commit -> start at 50 files/s ($JOBS_LATENCY jobs), jobs/s at concurrency 1 ($JOBS_C1 jobs) and 16 ($JOBS_C16 jobs), beside a posix_spawn loop, $RUNS runs"
  jobs_readme=()
  [ "$UPDATE_README" = 1 ] && jobs_readme=(--readme "$HERE/README.md")
  python3 "$HERE/jobs_bench.py" all --sluice "$SLUICE" --dir "$T/jobs" --latency-jobs "$JOBS_LATENCY" \
    --c1-jobs "$JOBS_C1" --c16-jobs "$JOBS_C16" --runs "$RUNS" "${jobs_readme[@]}" >>"$RESULTS"
  rm -rf "$T/jobs"
fi

# --- report ----------------------------------------------------------------------------------
END=$(now)
export B_RUNS=$RUNS B_CONC=$CONCURRENCY B_RATE=$RATE B_RATE_S=$RATE_SECONDS B_T=$T B_CMD=$COMMAND B_BACKLOG_S=$BACKLOG_SECONDS
export B_LOAD_BEFORE=$LOAD_BEFORE B_LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
export B_PSI=$PSI_BEFORE B_SCHED="$SCHED_POLICY priority $SCHED_PRIO"
duration() { python3 -c "import sys; s = float(sys.argv[2]) - float(sys.argv[1]); print('%dm%02ds' % (s // 60, s % 60))" "$1" "$2"; }
export B_DURATION="$(duration "$START" "$END")" B_S3_DURATION="$(duration "$S3_START" "$S3_END")"
export B_ONLY="$ONLY" B_SQS=$SQS_MESSAGES B_SCAN=$SCAN_OBJECTS B_PUSH_S=$PUSH_SECONDS B_PUSH_C=$PUSH_CONNECTIONS
export B_SETTINGS="sluice delivery.concurrency=$CONCURRENCY; rate $RATE files/s for ${RATE_SECONDS}s; saturation burst $BURST files (sluice) and $NAIVE_BURST files (naive pipeline), pre-written in a staging dir and renamed into the inbox; $PENDING pending for RSS; queue figures ${QUEUE_SECONDS}s each; receiver ${CAPACITY_SECONDS}s each; object stores: $SQS_MESSAGES SQS messages, $SCAN_OBJECTS objects scanned, pushes from $PUSH_CONNECTIONS connections for ${PUSH_SECONDS}s"
export B_DISK="$(df -PhT "$T" | awk 'NR==2 {printf "%s %s, %s total", $1, $2, $3}')$(lsblk -dno NAME,SIZE,ROTA,MODEL 2>/dev/null | awk -v dev="$(df -P "$T" | awk 'NR==2 {print $1}')" '{n="/dev/"$1; if (index(dev, n) == 1) printf " (block device %s, %s, rotational=%s%s)", $1, $2, $3, ($4 ? ", model " $4 : "")}')"
export B_TOOLS="$(nginx -v 2>&1 | sed 's/^nginx version: //'), $(curl --version | head -1 | cut -d' ' -f1-2), inotifywait $(inotifywait --help 2>&1 | head -1 | awk '{print $2}'), $(python3 --version), SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1)$(command -v wrk >/dev/null && printf ', %s' "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)")"
export B_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo '+uncommitted changes')"
python3 - >"$T/machine.json" <<'EOF'
import json, os, platform, subprocess, time
env = os.environ
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((l.split(":", 1)[1].strip() for l in open("/proc/meminfo") if l.startswith("MemTotal")), "?")
mem_gib = "%.1f GiB" % (int(mem.split()[0]) / 2**20) if mem != "?" else "?"
osname = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release") if l.startswith("PRETTY_NAME=")), "?")
print(json.dumps({
    "date": time.strftime("%Y-%m-%d %H:%M %Z"), "commit": env["B_COMMIT"], "runs": int(env["B_RUNS"]),
    "cpu_model": model, "cores": os.cpu_count(), "mem": mem_gib, "disk": env["B_DISK"], "tmp": env["B_T"],
    "kernel": platform.release(), "os": osname, "load_before": env["B_LOAD_BEFORE"],
    "load_after": env["B_LOAD_AFTER"], "psi": env["B_PSI"], "sched": env["B_SCHED"], "tools": env["B_TOOLS"], "command": env["B_CMD"],
    "duration": env["B_DURATION"], "settings": env["B_SETTINGS"],
    "concurrency": int(env["B_CONC"]), "rate": int(env["B_RATE"]), "rate_seconds": int(env["B_RATE_S"]),
    "backlog_seconds": int(env["B_BACKLOG_S"]), "sections": env["B_ONLY"],
    "s3_duration": env["B_S3_DURATION"], "sqs_messages": int(env["B_SQS"]),
    "scan_objects": int(env["B_SCAN"]), "push_seconds": int(env["B_PUSH_S"]),
    "push_connections": int(env["B_PUSH_C"]),
}))
EOF
python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); m["bench"] = "machine"; print(json.dumps(m))' \
  "$T/machine.json" >>"$RESULTS"
if [ "$README_PART" = all ]; then
  python3 "$HERE/report.py" summary --results "$RESULTS" --readme "$HERE/README.md"
  cp "$RESULTS" "$HERE/last-run.jsonl"
  log "results written to bench/README.md (raw figures: bench/last-run.jsonl)"
elif [ "$README_PART" = s3 ]; then
  # The s3 block of the Results only; bench/last-run.jsonl keeps the other sections' lines of
  # its full run and gets this run's s3 lines in place of the old ones, so that `report.py
  # summary` on it renders the README as it now is.
  python3 "$HERE/report.py" summary --only s3 --results "$RESULTS" --readme "$HERE/README.md"
  python3 "$HERE/report.py" merge --section s3 --results "$RESULTS" --into "$HERE/last-run.jsonl"
  log "s3 results written to bench/README.md (raw figures: bench/last-run.jsonl)"
elif [ "$ONLY" = s3 ]; then
  python3 "$HERE/report.py" summary --only s3 --results "$RESULTS"
else
  python3 "$HERE/report.py" summary --results "$RESULTS"
fi
log "done in $B_DURATION"
