#!/usr/bin/env bash
# Flood test: coapd with its default overload protection (rate limiting and load shedding,
# README "Rate limiting and load shedding") under floods from many source addresses, while a
# well-behaved client measures what a legitimate user still gets.
#
#   bash bench/flood_test.sh [BUILD_DIR]        # default BUILD_DIR: build
#   DURATION=5 bash bench/flood_test.sh build   # shorter phases
#
# coapd (BUILD_DIR/bin/coapd, default flags plus --stats-interval 1) runs alone on CPU
# $SERVER_CPU. The flooder and the probe are bench/flood.cpp and flood_probe.cpp, compiled here
# into BUILD_DIR/bin/coap-flood (not a CMake target); they run on $CLIENT_CPU. Phases, each $DURATION s:
#   idle        the probe alone
#   capacity    coap-bench --engine raw (256 endpoints, CON, window 1): what coapd serves flat
#               out; the floods below are compared with this
#   con-flood   CON GET /test from $SOURCES addresses 127.1.x.y x $PORTS ports, as fast as
#               $FLOODERS flooder processes can send
#   mixed-flood CON and NON GET plus malformed datagrams (1:1:2)
#   garbage     malformed datagrams only
#   one-source  CON GET /test from a single address (one IP, many ports): the per-IP rate
#               limiter's case
# The probe sends one CON GET /test every 50 ms from 127.0.0.1, retransmits as RFC 7252 §4.2
# says and asks again after a 4.29's Max-Age (RFC 8516); it stops sending with the flood and
# waits up to $GRACE s more for answers. "probe %" is requests answered 2.05 in the end, "1st
# try %" those answered at the first transmission, latencies are of the answered ones.
# coapd's memory is VmRSS/VmHWM from /proc/PID/status before and after each phase; "kernel
# drops" is the drops column of coapd's socket in /proc/net/udp6 (receive buffer full).
#
# Environment: DURATION (10), GRACE (5), PORT (56910), SERVER_CPU (0), CLIENT_CPU (1),
# FLOODERS (2), FLOOD_CPUS (CPUs the flooders take in turn, "$CLIENT_CPU"; "0 1" lets them
# compete with coapd for its CPU too), SOURCES (4096), PORTS (16), NICE (0; e.g. -10 on a
# machine busy with other work), CXX (g++).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${1:-build}
COAPD=$BUILD/bin/coapd
BENCH=$BUILD/bin/coap-bench
FLOOD=$BUILD/bin/coap-flood
DURATION=${DURATION:-10}
GRACE=${GRACE:-5}
PORT=${PORT:-56910}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
FLOODERS=${FLOODERS:-2}
SOURCES=${SOURCES:-4096}
PORTS=${PORTS:-16}
NICE=${NICE:-0}
read -r -a FLOOD_CPU_LIST <<<"${FLOOD_CPUS:-$CLIENT_CPU}"

for binary in "$COAPD" "$BENCH"; do
    if [[ ! -x $binary ]]; then
        echo "flood_test: $binary is missing; build coapd and coap-bench in $BUILD first" >&2
        exit 2
    fi
done
FLOOD_SOURCES=(bench/flood.cpp bench/flood_probe.cpp bench/flood_common.hpp)
rebuild=0
for source in "${FLOOD_SOURCES[@]}"; do
    [[ ! -x $FLOOD || $source -nt $FLOOD ]] && rebuild=1
done
if ((rebuild)); then
    "${CXX:-g++}" -std=c++20 -O2 -Wall -Wextra -Wpedantic -Wshadow -Werror \
        bench/flood.cpp bench/flood_probe.cpp -o "$FLOOD"
fi

WORK=$(mktemp -d)
COAPD_PID=""
cleanup() {
    if [[ -n $COAPD_PID ]]; then
        kill "$COAPD_PID" 2>/dev/null || true
        wait "$COAPD_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# on_cpu CPU COMMAND... &: runs COMMAND pinned to CPU at niceness $NICE. It execs, so call it
# in the background only; $! is then the PID of COMMAND itself.
on_cpu() {
    local cpu=$1
    shift
    exec nice -n "$NICE" taskset -c "$cpu" "$@"
}
kib() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$COAPD_PID/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$COAPD_PID/stat"; }
# The drops column of coapd's sockets (bound to :: on $PORT).
socket_drops() {
    local hex
    hex=$(printf '%04X' "$PORT")
    awk -v port=":$hex" '$2 ~ port"$" { drops += $NF } END { print drops + 0 }' /proc/net/udp6
}
# A counter from coapd's latest stats line ("... shed 123 ...").
counter() {
    grep 'coapd stats:' "$WORK/coapd.log" | tail -1 |
        sed -E "s/.* $1 ([0-9]+).*/\1/"
}
field() { sed -E "s/.*(^| )$1=([^ ]+).*/\2/" <<<"$2"; }

on_cpu "$SERVER_CPU" "$COAPD" --port "$PORT" --log-level warn --stats-interval 1 \
    >"$WORK/coapd.log" 2>&1 &
COAPD_PID=$!
for _ in $(seq 50); do
    grep -q 'coapd: serving' "$WORK/coapd.log" 2>/dev/null && break
    sleep 0.1
done
if ! grep -q 'coapd: serving' "$WORK/coapd.log"; then
    echo "flood_test: coapd did not start:" >&2
    cat "$WORK/coapd.log" >&2
    exit 1
fi
TARGET=127.0.0.1:$PORT
CAPACITY=0
ROWS=()

# phase NAME MIX SOURCES: runs the flood (none for MIX "-") and the probe, records a row.
phase() {
    local name=$1 mix=$2 sources=$3
    echo "  phase $name ..." >&2
    sleep 1.2 # let the stats line catch up with the previous phase
    local rss_before drops_before received_before requests_before refused_before
    local malformed_before
    rss_before=$(kib VmRSS)
    drops_before=$(socket_drops)
    received_before=$(counter received)
    requests_before=$(counter requests)
    refused_before=$(($(counter rate-limited) + $(counter shed)))
    malformed_before=$(counter malformed)
    local flood_pids=() i
    if [[ $mix != - ]]; then
        for ((i = 0; i < FLOODERS; ++i)); do
            on_cpu "${FLOOD_CPU_LIST[i % ${#FLOOD_CPU_LIST[@]}]}" "$FLOOD" flood --target "$TARGET" --mix "$mix" \
                --sources "$sources" --ports "$PORTS" --duration "$DURATION" \
                >"$WORK/flood.$i" &
            flood_pids+=($!)
        done
    fi
    local probe peak_rss=0 now_rss
    on_cpu "$CLIENT_CPU" "$FLOOD" probe --target "$TARGET" --duration "$DURATION" \
        --grace "$GRACE" >"$WORK/probe" &
    local probe_pid=$!
    local start_time start_ticks end_time end_ticks
    start_time=$(date +%s.%N)
    start_ticks=$(cpu_ticks)
    # Sample the resident size until the flood (or, when idle, the probe) is over.
    local watched=("${flood_pids[@]}")
    ((${#watched[@]} == 0)) && watched=("$probe_pid")
    while kill -0 "${watched[0]}" 2>/dev/null; do
        now_rss=$(kib VmRSS)
        ((now_rss > peak_rss)) && peak_rss=$now_rss
        sleep 0.25
    done
    local offered=0 line
    for i in "${!flood_pids[@]}"; do
        wait "${flood_pids[$i]}"
        line=$(cat "$WORK/flood.$i")
        offered=$(awk -v a="$offered" -v b="$(field rate "$line")" 'BEGIN { print a + b }')
    done
    end_time=$(date +%s.%N)
    end_ticks=$(cpu_ticks)
    now_rss=$(kib VmRSS)
    ((now_rss > peak_rss)) && peak_rss=$now_rss
    wait "$probe_pid"
    probe=$(cat "$WORK/probe")
    sleep 1.2
    local seconds=$DURATION
    local served refused malformed received drops cpu
    received=$((($(counter received) - received_before) / seconds))
    served=$((($(counter requests) - requests_before) / seconds))
    refused=$((($(counter rate-limited) + $(counter shed) - refused_before) / seconds))
    malformed=$((($(counter malformed) - malformed_before) / seconds))
    drops=$((($(socket_drops) - drops_before) / seconds))
    cpu=$(awk -v t="$((end_ticks - start_ticks))" -v hz="$(getconf CLK_TCK)" \
        -v s="$(awk -v a="$start_time" -v b="$end_time" 'BEGIN { print b - a }')" \
        'BEGIN { printf "%.0f", 100 * t / hz / s }')
    local ratio=-
    if [[ $mix != - && $CAPACITY -gt 0 ]]; then
        ratio=$(awk -v o="$offered" -v c="$CAPACITY" 'BEGIN { printf "%.1f", o / c }')
    fi
    ROWS+=("$(printf '| %-11s | %9.0f | %5s | %10s | %8s | %9s | %11s | %9s | %5s | %7s | %8s | %7s | %7s | %4s | %3s | %4s | %8s → %4s | %9s |' \
        "$name" "$offered" "$ratio" "$received" "$served" "$refused" "$malformed" "$drops" \
        "$cpu" "$(field success_pct "$probe")" "$(field first_try_pct "$probe")" \
        "$(field p50_ms "$probe")" "$(field p99_ms "$probe")" "$(field refusals "$probe")" \
        "$(field rst "$probe")" "$(field lost "$probe")" "$((rss_before / 1024))" \
        "$((peak_rss / 1024))" \
        "$(($(kib VmHWM) / 1024))")")
    echo "    flood: $(cat "$WORK"/flood.* 2>/dev/null | tr '\n' ' ')" >&2
    echo "    probe: $probe" >&2
    echo "    coapd: $(grep 'coapd stats:' "$WORK/coapd.log" | tail -1)" >&2
    rm -f "$WORK"/flood.*
}

echo "== flood_test: $(date -u)" >&2
echo "   CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores;" \
    "kernel $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "   coapd on CPU $SERVER_CPU, $FLOODERS flooder(s) on CPU(s) ${FLOOD_CPU_LIST[*]}, the probe on CPU $CLIENT_CPU;" \
    "$DURATION s phases; floods from $SOURCES addresses x $PORTS ports; nice $NICE" >&2

phase idle - 1
echo "  phase capacity ..." >&2
# Window 1: 256 requests in flight stay below the load monitor's throttle level (75% of the
# 512 receive buffers), so this is the rate coapd serves, not the rate it refuses.
line=$("$BENCH" --engine raw --cpu "$CLIENT_CPU" --endpoints 256 --window 1 --duration 3 \
    --warmup 0.5 --json "coap://$TARGET/test")
CAPACITY=$(awk -v r="$(sed -E 's/.*"requests_per_s":([0-9.]+).*/\1/' <<<"$line")" \
    -v c="$(sed -E 's/.*"completed":([0-9]+).*/\1/' <<<"$line")" \
    -v n="$(sed -E 's/.*"non_success":([0-9]+).*/\1/' <<<"$line")" \
    'BEGIN { printf "%.0f", (c > 0) ? r * (c - n) / c : 0 }')
echo "    coap-bench: $CAPACITY requests/s answered 2.xx" >&2
phase con-flood con:1 "$SOURCES"
phase mixed-flood con:1,non:1,garbage:2 "$SOURCES"
phase garbage garbage:1 "$SOURCES"
phase one-source con:1 1
echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo "coapd capacity (coap-bench raw, CON window 1, 256 endpoints): $CAPACITY requests/s"
echo
echo "| phase       | offered/s | x cap | coapd rx/s | served/s | refused/s | malformed/s | k-drops/s | CPU % | probe % | 1st try % | p50 ms | p99 ms | 4.29 | RST | lost | RSS MiB → peak | VmHWM MiB |"
echo "|-------------|----------:|------:|-----------:|---------:|----------:|------------:|----------:|------:|--------:|----------:|-------:|-------:|-----:|----:|-----:|---------------:|----------:|"
printf '%s\n' "${ROWS[@]}"
