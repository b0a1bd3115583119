#!/usr/bin/env bash
# Receive-path benchmark (issue 8, docs/PERFORMANCE.md): chatdeploy's receiver
# against a bare hyper receiver (the ceiling), Bolt for JavaScript and Bolt for
# Python, one after the other on this machine. Each server is pinned to one core,
# the load generator to the other; each is driven at 1, 16 and 64 keep-alive
# connections with signed app_mention event_callbacks. Prints one markdown table.
#
# Usage: bash bench/run.sh
# Environment (all optional):
#   DURATION=10 WARMUP=2 CONNS="1 16 64"     measured seconds, warm-up seconds, connection counts
#   SERVERS="chatdeploy bare bolt-js bolt-py" which rows, in this order
#   SERVER_CPU=0 LOADGEN_CPU=1 BASE_PORT=38910 SECRET=...
#   CHATDEPLOY_RECEIVER_CMD  command for the chatdeploy row; {port} and {secret} are substituted
#   CHATDEPLOY_RECEIVER_PKG  workspace package built for it when present (chatdeploy-receiver)
#   NICE=-15                 run server and loadgen at this nice level (needs root): on a
#                            machine shared with other work, keeps them from being starved
#   SKIP_INSTALL=1           reuse the installed peers and built binaries
#   OUT=bench/results/<utc>  where the logs and raw JSON lines go
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-"1 16 64"}
SERVERS=${SERVERS:-"chatdeploy bare bolt-js bolt-py"}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
BASE_PORT=${BASE_PORT:-38910}
SECRET=${SECRET:-bench-signing-secret-5f1e3a}
CHATDEPLOY_RECEIVER_CMD=${CHATDEPLOY_RECEIVER_CMD:-"target/release/chatdeploy-receiver --listen 127.0.0.1:{port} --secret {secret}"}
CHATDEPLOY_RECEIVER_PKG=${CHATDEPLOY_RECEIVER_PKG:-chatdeploy-receiver}
SKIP_INSTALL=${SKIP_INSTALL:-0}
NICE=${NICE:-0}
OUT=${OUT:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
TEXT='<@U0BOT> status'

log() { printf '==> %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() { as_root apt-get update -qq && as_root apt-get install -y -qq "$@" >/dev/null; }

# ---------------------------------------------------------------- processes
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    sleep 1
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_server() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  SERVER_PID=""
}

wait_port() {
  local port=$1 pid=$2
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# ---------------------------------------------------------------- install
mkdir -p "$OUT"
command -v taskset >/dev/null || apt_install util-linux
command -v python3 >/dev/null || apt_install python3 python3-venv
command -v node >/dev/null || apt_install nodejs npm

chatdeploy_pkg=no
if cargo metadata --no-deps --format-version 1 2>/dev/null | grep -q "\"name\":\"$CHATDEPLOY_RECEIVER_PKG\""; then
  chatdeploy_pkg=yes
fi

if [ "$SKIP_INSTALL" != 1 ]; then
  log "building the Rust binaries (release)"
  pkgs=(-p loadgen -p bare-receiver)
  [ "$chatdeploy_pkg" = yes ] && pkgs+=(-p "$CHATDEPLOY_RECEIVER_PKG")
  cargo build --release --quiet "${pkgs[@]}"

  log "installing Bolt for JavaScript (npm ci)"
  (cd bench/peers/bolt-js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

  log "installing Bolt for Python (venv in bench/.venv)"
  if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv || { apt_install python3-venv && python3 -m venv bench/.venv; }
  fi
  bench/.venv/bin/pip install --quiet --disable-pip-version-check -r bench/peers/bolt-py/requirements.txt
fi

# ---------------------------------------------------------------- machine
{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo) x $(nproc)"
  echo "kernel: $(uname -r)"
  echo "rustc: $(rustc --version)"
  echo "node: $(node --version), @slack/bolt $(node -p "require('./bench/peers/bolt-js/node_modules/@slack/bolt/package.json').version" 2>/dev/null || echo '?')"
  echo "python: $(bench/.venv/bin/python --version 2>&1), $(bench/.venv/bin/pip list 2>/dev/null | awk '$1 ~ /^(slack_bolt|slack-bolt|uvicorn|uvloop|httptools)$/ { printf "%s %s, ", $1, $2 }')"
  echo "pinning: server on cpu $SERVER_CPU, loadgen on cpu $LOADGEN_CPU, nice $NICE; warmup ${WARMUP}s, measured ${DURATION}s; connections: $CONNS"
} | tee "$OUT/machine.txt" >&2

# ---------------------------------------------------------------- runs
server_cmd() { # name port -> prints the command, or nothing if unavailable
  local name=$1 port=$2 cmd
  case $name in
    chatdeploy)
      cmd=${CHATDEPLOY_RECEIVER_CMD//\{port\}/$port}
      cmd=${cmd//\{secret\}/$SECRET}
      local bin=${cmd%% *}
      if [ -x "$bin" ] || command -v "$bin" >/dev/null 2>&1; then echo "$cmd"; fi ;;
    bare) echo "target/release/bare-receiver --listen 127.0.0.1:$port --secret $SECRET" ;;
    bolt-js) echo "node bench/peers/bolt-js/app.js $port" ;;
    bolt-py) echo "bench/.venv/bin/python bench/peers/bolt-py/app.py $port" ;;
    *) echo "unknown server $name" >&2; return 1 ;;
  esac
}

: >"$OUT/results.jsonl"
: >"$OUT/servers.jsonl"
clk_tck=$(getconf CLK_TCK)
i=0
for name in $SERVERS; do
  port=$((BASE_PORT + i)); i=$((i + 1))
  cmd=$(server_cmd "$name" "$port")
  if [ -z "$cmd" ]; then
    note="not measured: ${CHATDEPLOY_RECEIVER_CMD%% *} does not exist yet"
    log "$name: $note"
    printf '{"server":"%s","skipped":"%s"}\n' "$name" "$note" >>"$OUT/servers.jsonl"
    continue
  fi
  log "$name: starting on cpu $SERVER_CPU: $cmd  (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  # shellcheck disable=SC2086 # the command is split into words on purpose
  SLACK_SIGNING_SECRET=$SECRET nice -n "$NICE" taskset -c "$SERVER_CPU" $cmd >"$OUT/$name.log" 2>&1 &
  SERVER_PID=$!
  if ! wait_port "$port" "$SERVER_PID"; then
    log "$name: did not open port $port; its log:"; cat "$OUT/$name.log" >&2
    stop_server "$SERVER_PID"
    printf '{"server":"%s","skipped":"did not start (see %s.log)"}\n' "$name" "$name" >>"$OUT/servers.jsonl"
    continue
  fi
  sleep 1
  idle_kb=$(status_kb "$SERVER_PID" VmRSS)
  for c in $CONNS; do
    t0=$(cpu_ticks "$SERVER_PID"); s0=$(date +%s.%N)
    line=$(nice -n "$NICE" taskset -c "$LOADGEN_CPU" target/release/loadgen --url "http://127.0.0.1:$port/slack/events" \
      --secret "$SECRET" --connections "$c" --duration "$DURATION" --warmup "$WARMUP" --text "$TEXT" --json)
    t1=$(cpu_ticks "$SERVER_PID"); s1=$(date +%s.%N)
    # The server's CPU time over the whole loadgen run (warm-up included), as a share of
    # wall time and per response: the latter holds up when other work shares the machine.
    done_n=$(sed 's/.*"completed":\([0-9]*\).*/\1/' <<<"$line")
    read -r cpu cpu_us <<<"$(awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$clk_tck" -v n="$done_n" \
      'BEGIN { t = (b - a) / hz; printf "%.0f %.1f", 100 * t / (e - s), (n > 0 ? 1e6 * t / n : 0) }')"
    echo "${line%\}},\"server\":\"$name\",\"server_cpu_pct\":$cpu,\"server_cpu_us_per_req\":$cpu_us}" >>"$OUT/results.jsonl"
    log "$name @ $c conns: $line (server cpu ${cpu}%)"
    sleep 1
  done
  peak_kb=$(status_kb "$SERVER_PID" VmHWM)
  stop_server "$SERVER_PID"
  printf '{"server":"%s","idle_rss_kb":%s,"peak_rss_kb":%s}\n' "$name" "$idle_kb" "$peak_kb" >>"$OUT/servers.jsonl"
done

python3 bench/table.py "$OUT" | tee "$OUT/table.md"
log "raw results in $OUT"
