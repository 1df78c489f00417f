#!/usr/bin/env bash
# Server throughput on this machine: the recvmmsg reflector (the ceiling), our coapd and
# libcoap's coap-server-notls, one after another, with the same load and the same pinning.
#
#   cmake --preset release && cmake --build build && bench/compare_servers.sh
#   QUICK=1 bench/compare_servers.sh        # 2 s runs instead of 5 s
#
# Each server runs alone on CPU $SERVER_CPU (taskset); coap-bench runs on CPU $CLIENT_CPU. For
# each server: CON with window 1 and window 8 per endpoint, then NON with window 8, over
# $ENDPOINTS endpoints, each run measured for $DURATION s after a $WARMUP s warm-up. Server CPU
# time is utime+stime of the server process from /proc/PID/stat (clock ticks), which coap-bench
# reads itself at the two edges of the measured window (--server-pid), divided by the requests
# completed in that window. All traffic is on 127.0.0.1. Every server started is killed on exit.
# coap-bench's default engine is the client library's (CON requests are retransmitted as RFC
# 7252 §4.2 says); ENGINE=raw uses its hand-rolled sender instead (no retransmission, lost
# requests written off after 2 s), the ceiling of the load generator.
#
# Environment: QUICK=1, BUILD (build dir, default build), PORT (first of three ports, default
# 56830), ENDPOINTS (256), SERVER_CPU (0), CLIENT_CPU (1), OUR_PATH (/test),
# LIBCOAP_PATH (/), REFLECTOR_PATH (/test), ENGINE (core or raw), RESULTS (file to keep the JSON
# lines in).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BENCH=$BUILD/bin/coap-bench
COAPD=$BUILD/bin/coapd
REFLECTOR=$BUILD/bin/coap-reflector
LIBCOAP_SERVER=${LIBCOAP_SERVER:-coap-server-notls}
PORT=${PORT:-56830}
ENDPOINTS=${ENDPOINTS:-256}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUR_PATH=${OUR_PATH:-/test}
LIBCOAP_PATH=${LIBCOAP_PATH:-/}
REFLECTOR_PATH=${REFLECTOR_PATH:-/test}
ENGINE=${ENGINE:-core}
if [[ ${QUICK:-0} == 1 ]]; then
    DURATION=2
    WARMUP=0.5
else
    DURATION=5
    WARMUP=1
fi
# (type, window) of every run, in order.
RUNS=("CON 1" "CON 8" "NON 8")

for binary in "$BENCH" "$COAPD" "$REFLECTOR"; do
    if [[ ! -x $binary ]]; then
        echo "compare_servers: $binary is missing; build first:" >&2
        echo "  cmake --preset release && cmake --build build" >&2
        exit 2
    fi
done
have_libcoap=1
if ! command -v "$LIBCOAP_SERVER" >/dev/null; then
    echo "compare_servers: $LIBCOAP_SERVER not found (Debian libcoap3-bin); libcoap is skipped" >&2
    have_libcoap=0
fi

WORK=$(mktemp -d)
RESULTS=${RESULTS:-$WORK/results.jsonl}
: >"$RESULTS"
SERVER_PID=""

cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Answers on 127.0.0.1:$1$2? (one endpoint, 0.1 s, exit status of coap-bench)
answers() {
    "$BENCH" --endpoints 1 --warmup 0 --duration 0.1 --timeout 100 --json \
        "coap://127.0.0.1:$1$2" >/dev/null 2>&1
}

# start_server NAME PORT PATH COMMAND...: starts COMMAND on $SERVER_CPU and waits until it answers.
start_server() {
    local name=$1 port=$2 path=$3
    shift 3
    if answers "$port" "$path"; then
        echo "compare_servers: something already answers on 127.0.0.1:$port; set PORT" >&2
        exit 1
    fi
    taskset -c "$SERVER_CPU" "$@" >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 50); do
        if answers "$port" "$path"; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "compare_servers: $name did not answer on 127.0.0.1:$port$path; its output:" >&2
    cat "$WORK/$name.log" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# measure NAME PORT PATH: every run of RUNS against the running server.
measure() {
    local name=$1 port=$2 path=$3 run type window flags line
    for run in "${RUNS[@]}"; do
        read -r type window <<<"$run"
        flags=()
        [[ $type == NON ]] && flags+=(--non)
        echo "  $name $path: $type window $window ..." >&2
        line=$("$BENCH" --engine "$ENGINE" --cpu "$CLIENT_CPU" --endpoints "$ENDPOINTS" --window "$window" \
            --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SERVER_PID" --json \
            "${flags[@]}" "coap://127.0.0.1:$port$path")
        echo "{\"server\":\"$name\",\"path\":\"$path\",\"result\":$line}" >>"$RESULTS"
    done
}

echo "== compare_servers: $(date -u)" >&2
echo "   CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores;" \
    "kernel $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "   server on CPU $SERVER_CPU, coap-bench (engine $ENGINE) on CPU $CLIENT_CPU; $ENDPOINTS endpoints;" \
    "${DURATION} s measured after ${WARMUP} s warm-up; CLK_TCK $(getconf CLK_TCK)" >&2

start_server reflector "$PORT" "$REFLECTOR_PATH" \
    "$REFLECTOR" --bind 127.0.0.1 --port "$PORT"
measure reflector "$PORT" "$REFLECTOR_PATH"
stop_server

start_server coapd "$((PORT + 1))" "$OUR_PATH" \
    "$COAPD" --bind 127.0.0.1 --port "$((PORT + 1))" --log-level warn
measure coapd "$((PORT + 1))" "$OUR_PATH"
stop_server

if [[ $have_libcoap == 1 ]]; then
    start_server libcoap "$((PORT + 2))" "$LIBCOAP_PATH" \
        "$LIBCOAP_SERVER" -A 127.0.0.1 -p "$((PORT + 2))"
    measure libcoap "$((PORT + 2))" "$LIBCOAP_PATH"
    stop_server
fi
echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# The table and the ratios, from the JSON lines (keys are unique, read with awk; no jq needed).
# "UDP drops" is RcvbufErrors of /proc/net/snmp over the measured window: datagrams the kernel
# dropped because a socket's receive buffer was full (whole host, so any other UDP user counts).
awk '
function field(line, key,    rest) {
    if (!match(line, "\"" key "\":[^,}]*")) return ""
    rest = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
    gsub(/"/, "", rest)
    return rest
}
{
    server = field($0, "server"); path = field($0, "path")
    mode = field($0, "type") " w" field($0, "window")
    rate = field($0, "requests_per_s") + 0
    cpu_us = field($0, "server_cpu_us_per_request")
    key = server SUBSEP mode
    rates[key] = rate; cpus[key] = cpu_us
    if (!(mode in seen)) { seen[mode] = 1; modes[++mode_count] = mode }
    rows[++row_count] = sprintf("| %-9s | %-15s | %-6s | %9.0f | %9.1f | %9.1f | %9.1f | %14.2f | %8s | %8s | %9s | %9s | %11.1f |",
        server, path, mode, rate, field($0, "p50"), field($0, "p99"),
        field($0, "server_cpu_pct"), cpu_us, field($0, "non_success"), field($0, "timeouts"),
        field($0, "retransmissions"),
        field($0, "udp_rcvbuf_drops_host"), field($0, "client_cpu_pct"))
}
function ratio(a, b) { return (b + 0 > 0 && a != "" && a != "null") ? sprintf("%.2f", a / b) : "n/a" }
END {
    print "| server    | path            | mode   |     req/s |    p50 us |    p99 us | srv CPU % | srv CPU us/req | not 2.xx | timeouts |   retrans | UDP drops | bench CPU % |"
    print "|-----------|-----------------|--------|----------:|----------:|----------:|----------:|---------------:|---------:|---------:|----------:|----------:|------------:|"
    for (i = 1; i <= row_count; ++i) print rows[i]
    print ""
    print "| mode   | req/s ours/libcoap | req/s ours/reflector | CPU us/req ours/libcoap | CPU us/req ours/reflector |"
    print "|--------|---:|---:|---:|---:|"
    for (i = 1; i <= mode_count; ++i) {
        m = modes[i]
        printf "| %-6s | %s | %s | %s | %s |\n", m,
            ratio(rates["coapd" SUBSEP m], rates["libcoap" SUBSEP m]),
            ratio(rates["coapd" SUBSEP m], rates["reflector" SUBSEP m]),
            ratio(cpus["coapd" SUBSEP m], cpus["libcoap" SUBSEP m]),
            ratio(cpus["coapd" SUBSEP m], cpus["reflector" SUBSEP m])
    }
}' "$RESULTS"
