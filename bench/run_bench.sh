#!/usr/bin/env bash
# `make bench`: the side-by-side server benchmark and the micro-benchmarks, in one run on this
# machine, with the results table written into BENCHMARKS.md between
# <!-- bench:begin --> and <!-- bench:end --> (the hand-written text around it stays).
#
#   cmake --preset release && cmake --build build && bench/run_bench.sh     # about 7 minutes
#   QUICK=1 bench/run_bench.sh                                               # under 1 minute
#
# Servers, one after another, each started anew for every run:
#   reflector  build/bin/coap-reflector --echo: recvmmsg/sendmmsg, rewrites the header and sends
#              the payload back; parses no option, remembers nothing (the ceiling);
#   coapd      build/bin/coapd, 1 worker thread, and `nproc` threads (--threads), resource /echo
#              (GET: 2.05 with no payload; PUT: 2.04 with the request's payload);
#   libcoap    coap-server-notls -e -d 10 (Debian libcoap3-bin): /echo is a dynamic resource
#              created by an empty PUT after each start; PUT answers 2.04 with the payload
#              (-e) and stores it, GET answers 2.05 with the stored value (empty).
# Matrix: CON and NON x payload 0 B (GET /echo), 100 B and 1000 B (PUT /echo); coap-bench (core
# engine: the client library's RFC 7252 exchange rules, CON retransmitted) with $ENDPOINTS client
# endpoints x window $WINDOW, closed loop. Server pinned to CPU 0 and coap-bench to CPU 1 (with
# one CPU: no pinning); coapd with N threads gets every CPU. Server CPU time per answer is
# utime+stime of the server process from /proc/PID/stat, read by coap-bench at the edges of the
# measured window (--server-pid). Each cell is the median run (by 2.xx answers per second) of
# $REPEATS runs. The ratios compare 2.xx answers, so a refusal (4.29) does not count as served.
#
# Environment: QUICK=1 (1 run per cell, short runs), BUILD_DIR (default build), ENDPOINTS (1024),
# WINDOW (1), PORT (first port, default 56830), BENCHMARKS_MD (file to update, default
# BENCHMARKS.md; WRITE_MD=0 leaves it alone), COAPD_DTLS_ARGS (coapd's flags for a DTLS port,
# with {port}, {identity} and {key} placeholders, when its --help is not recognised).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BIN=$BUILD_DIR/bin
BENCH=$BIN/coap-bench
COAPD=$BIN/coapd
REFLECTOR=$BIN/coap-reflector
LIBCOAP_SERVER=${LIBCOAP_SERVER:-coap-server-notls}
LIBCOAP_DTLS_SERVER=${LIBCOAP_DTLS_SERVER:-coap-server-openssl}
MICRO_BENCHES=(codec_bench exchange_cache_bench router_bench ccm_bench)
PORT=${PORT:-56830}
ENDPOINTS=${ENDPOINTS:-1024}
WINDOW=${WINDOW:-1}
BENCHMARKS_MD=${BENCHMARKS_MD:-BENCHMARKS.md}
WRITE_MD=${WRITE_MD:-1}
PSK_IDENTITY=password
PSK_KEY=sesame
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    REPEATS=1 WARMUP=0.3 DURATION=0.8 MICRO_MIN_TIME=0.01
else
    REPEATS=3 WARMUP=1 DURATION=4 MICRO_MIN_TIME=0.1
fi
CPUS=$(nproc)
if ((CPUS >= 2)); then
    SERVER_CPUS=0 CLIENT_CPU=1 ALL_CPUS="0-$((CPUS - 1))"
    PINNING="server on CPU 0, coap-bench on CPU 1 (taskset); coapd with $CPUS threads on CPUs $ALL_CPUS"
else
    SERVER_CPUS="" CLIENT_CPU="" ALL_CPUS=""
    PINNING="not pinned: this machine has one CPU, so server and load generator share it"
fi

say() { echo "run_bench: $*" >&2; }
# A number rounded to an integer, or n/a when empty (a failed run).
round() { awk -v v="$1" 'BEGIN { if (v == "" || v == "null") print "n/a"; else printf "%.0f", v }'; }

for binary in "$BENCH" "$COAPD" "$REFLECTOR"; do
    if [[ ! -x $binary ]]; then
        say "$binary is missing; build first: cmake --preset release && cmake --build build"
        exit 2
    fi
done
have_libcoap=1
command -v "$LIBCOAP_SERVER" >/dev/null || {
    say "$LIBCOAP_SERVER not found (Debian libcoap3-bin): the libcoap rows are skipped"
    have_libcoap=0
}

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    [[ -n $SERVER_PID ]] && stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
START_SECONDS=$SECONDS

# --- servers -------------------------------------------------------------------------------

# Answers on 127.0.0.1:$1$2? (one endpoint, 0.1 s; any answer counts, 4.04 included)
answers() {
    "$BENCH" --endpoints 1 --warmup 0 --duration 0.1 --timeout 100 --json "coap://127.0.0.1:$1$2" \
        >/dev/null 2>&1
}

# on_cpus CPULIST COMMAND...: COMMAND pinned to CPULIST (or as it is without pinning).
on_cpus() {
    local cpus=$1
    shift
    if [[ -n $cpus ]]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

# start_server LOG CPULIST PORT COMMAND...: starts it and waits until it answers on /echo.
start_server() {
    local log=$1 cpus=$2 port=$3
    shift 3
    if answers "$port" /echo; then
        say "something already answers on 127.0.0.1:$port; set PORT"
        exit 1
    fi
    (on_cpus "$cpus" "$@") >"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 50); do
        if answers "$port" /echo; then
            # libcoap's /echo exists once PUT; an empty PUT leaves it empty (harmless elsewhere).
            "$BENCH" --method put --endpoints 1 --warmup 0 --duration 0.05 --timeout 100 \
                "coap://127.0.0.1:$port/echo" >/dev/null 2>&1 || true
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    say "$* did not answer on 127.0.0.1:$port; its output:"
    cat "$log" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# server_command NAME PORT: the command line of server NAME (reflector, coapd, coapd-mt, libcoap).
server_command() {
    local name=$1 port=$2
    case $name in
        reflector) echo "$REFLECTOR --bind 127.0.0.1 --port $port --echo" ;;
        # --rate-limit-ips 0: all load comes from one IP (127.0.0.1), which the per-IP limit of
        # a throttled worker (100 req/s) would otherwise starve. Load shedding has no flag and
        # stays as shipped: its refusals are counted below (4.29 for CON, silence for NON).
        coapd) echo "$COAPD --bind 127.0.0.1 --port $port --threads 1 --log-level error" \
            "--rate-limit-ips 0 --stats-interval 3600" ;;
        coapd-mt) echo "$COAPD --bind 127.0.0.1 --port $port --threads $CPUS --log-level error" \
            "--rate-limit-ips 0 --stats-interval 3600" ;;
        libcoap) echo "$LIBCOAP_SERVER -A 127.0.0.1 -p $port -e -d 10 -v 0" ;;
    esac
}

server_cpus() { [[ $1 == coapd-mt ]] && echo "$ALL_CPUS" || echo "$SERVER_CPUS"; }

# coapd's refusals from its exit statistics: "rate-limited R shed S" -> "R+S".
coapd_refused() {
    awk '/coapd stats:/ {
        for (i = 1; i <= NF; ++i) { if ($i == "rate-limited") r = $(i + 1); if ($i == "shed") s = $(i + 1) }
        found = 1 }
        END { if (found) print r + s; else print "?" }' "$1"
}

# --- the load --------------------------------------------------------------------------------

# bench_once OUT_JSON ARGS...: one coap-bench run; stderr kept next to the JSON.
bench_once() {
    local out=$1
    shift
    local pin=()
    [[ -n $CLIENT_CPU ]] && pin=(--cpu "$CLIENT_CPU")
    if ! "$BENCH" "${pin[@]}" --endpoints "$ENDPOINTS" --window "$WINDOW" --warmup "$WARMUP" \
        --duration "$DURATION" --json "$@" >"$out" 2>"$out.err"; then
        echo '{"failed":1}' >"$out"
    fi
}

# JSON field (first match of "key":value; keys are unique in coap-bench's output).
json_field() {
    sed -n "s/.*\"$2\":\\(\"[^\"]*\"\\|[^,}]*\\).*/\\1/p" "$1" | tr -d '"' | head -1
}

# 2.xx answers per second of a run: answered requests less those that were not 2.xx (4.29...).
ok_rate() {
    local completed non_success seconds
    completed=$(json_field "$1" completed)
    non_success=$(json_field "$1" non_success)
    seconds=$(json_field "$1" measured_s)
    awk -v c="$completed" -v n="$non_success" -v s="$seconds" \
        'BEGIN { if (c == "" || s + 0 <= 0) print ""; else printf "%.1f", (c - n) / s }'
}

# The median of REPEATS result files by 2.xx answers per second, printed as "FILE MIN MAX".
median_run() {
    local file rate
    for file in "$@"; do
        rate=$(ok_rate "$file")
        echo "${rate:-0} $file"
    done | sort -g |
        awk '{ rate[NR] = $1; file[NR] = $2 } END { m = int((NR + 1) / 2); print file[m], rate[1], rate[NR] }'
}

CELLS="$WORK/cells.tsv"  # server type payload median_file min max refused
: >"$CELLS"

# run_cell NAME PORT TYPE PAYLOAD: REPEATS runs, each against a newly started server (libcoap
# keeps a session per client endpoint for minutes, and every run brings 1024 new ones).
run_cell() {
    local name=$1 port=$2 type=$3 payload=$4 files=() method=get rep file command
    [[ $payload != 0 ]] && method=put
    read -r -a command <<<"$(server_command "$name" "$port")"
    for ((rep = 1; rep <= REPEATS; ++rep)); do
        file="$WORK/$name-$type-$payload-$rep.json"
        start_server "$file.log" "$(server_cpus "$name")" "$port" "${command[@]}"
        local flags=(--method "$method" --payload "$payload" --server-pid "$SERVER_PID")
        [[ $type == NON ]] && flags+=(--non)
        bench_once "$file" "${flags[@]}" "coap://127.0.0.1:$port/echo"
        stop_server
        if [[ $name == coapd* ]]; then coapd_refused "$file.log" >"$file.refused"; else echo - >"$file.refused"; fi
        files+=("$file")
    done
    read -r median low high <<<"$(median_run "${files[@]}")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$type" "$payload" "$median" "$low" "$high" \
        "$(cat "$median.refused")" >>"$CELLS"
    say "$(printf '%-9s %s %4s B: %8s 2.xx/s (runs %s-%s), all answers %s/s, refused %s' "$name" \
        "$type" "$payload" "$(round "$(ok_rate "$median")")" "$(round "$low")" "$(round "$high")" \
        "$(round "$(json_field "$median" requests_per_s)")" "$(cat "$median.refused")")"
}

SERVERS=(reflector coapd)
((CPUS >= 2)) && SERVERS+=(coapd-mt)
((have_libcoap)) && SERVERS+=(libcoap)

say "$(date -u '+%F %T UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg); $PINNING"
say "$ENDPOINTS endpoints x window $WINDOW; ${WARMUP} s warm-up + ${DURATION} s measured; $REPEATS run(s) per cell"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
index=0
for server in "${SERVERS[@]}"; do
    for type in CON NON; do
        for payload in 0 100 1000; do
            # A new port per cell: no stray late answer from the previous cell's server.
            run_cell "$server" $((PORT + index)) "$type" "$payload"
            index=$((index + 1))
        done
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- DTLS and Observe: run when coap-bench can -----------------------------------------------

BENCH_HELP=$("$BENCH" --help 2>&1 | tr -d '\0' || true)
COAPD_HELP=$("$COAPD" --help 2>&1 | tr -d '\0' || true)
EXTRA_ROWS="$WORK/extra.md"
: >"$EXTRA_ROWS"

# coapd's DTLS flags: COAPD_DTLS_ARGS, or guessed from its --help.
coapd_dtls_args() {
    if [[ -n ${COAPD_DTLS_ARGS:-} ]]; then
        echo "$COAPD_DTLS_ARGS"
    elif grep -q -- '--dtls-port' <<<"$COAPD_HELP" && grep -q -- '--psk-identity' <<<"$COAPD_HELP" &&
        grep -q -- '--psk-key' <<<"$COAPD_HELP"; then
        echo "--dtls-port {port} --psk-identity {identity} --psk-key {key}"
    elif grep -q -- '--dtls-port' <<<"$COAPD_HELP" && grep -q -- '--psk ' <<<"$COAPD_HELP"; then
        echo "--dtls-port {port} --psk {identity}:{key}"
    fi
}

# extra_row LABEL SERVER RESULT_FILE: a row of the DTLS / Observe table.
extra_row() {
    local label=$1 server=$2 file=$3 rate cpu handshakes
    rate=$(json_field "$file" requests_per_s)
    handshakes=$(json_field "$file" handshakes_per_s)
    cpu=$(json_field "$file" server_cpu_us_per_request)
    printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$server" "${rate:-n/a}" \
        "${handshakes:-n/a}" "${cpu:-n/a}" "$(json_field "$file" non_success)/$(json_field "$file" timeouts)" \
        >>"$EXTRA_ROWS"
}

DTLS_NOTE=""
if grep -q 'coaps' <<<"$BENCH_HELP" && grep -q -- '--handshakes-only' <<<"$BENCH_HELP"; then
    dtls_port=$((PORT + index + 10))
    pin=()
    [[ -n $CLIENT_CPU ]] && pin=(--cpu "$CLIENT_CPU")
    dtls_targets=()
    template=$(coapd_dtls_args)
    if [[ -n $template ]]; then
        dtls_targets+=("coapd")
    else
        DTLS_NOTE+=" coapd: not measured, no DTLS flags recognised in coapd --help (set COAPD_DTLS_ARGS)."
    fi
    command -v "$LIBCOAP_DTLS_SERVER" >/dev/null && dtls_targets+=("libcoap-openssl")
    for target in "${dtls_targets[@]}"; do
        plain=$((dtls_port)) secure=$((dtls_port + 1))
        if [[ $target == coapd ]]; then
            args=${template//\{port\}/$secure}
            args=${args//\{identity\}/$PSK_IDENTITY}
            args=${args//\{key\}/$PSK_KEY}
            read -r -a extra <<<"$args"
            command=("$COAPD" --bind 127.0.0.1 --port "$plain" --threads 1 --log-level error
                --rate-limit-ips 0 "${extra[@]}")
        else
            # libcoap listens for DTLS on port + 1; -k is the PSK for any identity.
            command=("$LIBCOAP_DTLS_SERVER" -A 127.0.0.1 -p "$plain" -e -d 10 -v 0 -k "$PSK_KEY")
        fi
        start_server "$WORK/dtls-$target.log" "$SERVER_CPUS" "$plain" "${command[@]}"
        uri="coaps://127.0.0.1:$secure/echo"
        "$BENCH" --method put --endpoints 1 --warmup 0 --duration 0.05 -u "$PSK_IDENTITY" \
            -k "$PSK_KEY" "$uri" >/dev/null 2>&1 || true
        "$BENCH" "${pin[@]}" --endpoints "$ENDPOINTS" --window "$WINDOW" --warmup "$WARMUP" \
            --duration "$DURATION" --json --method put --payload 100 --server-pid "$SERVER_PID" \
            -u "$PSK_IDENTITY" -k "$PSK_KEY" "$uri" >"$WORK/dtls-$target.json" \
            2>"$WORK/dtls-$target.err" || echo '{"failed":1}' >"$WORK/dtls-$target.json"
        extra_row "DTLS CON PUT 100 B" "$target" "$WORK/dtls-$target.json"
        "$BENCH" "${pin[@]}" --endpoints "$ENDPOINTS" --warmup "$WARMUP" --duration "$DURATION" \
            --json --handshakes-only --server-pid "$SERVER_PID" -u "$PSK_IDENTITY" -k "$PSK_KEY" \
            "$uri" >"$WORK/hs-$target.json" 2>"$WORK/hs-$target.err" ||
            echo '{"failed":1}' >"$WORK/hs-$target.json"
        extra_row "DTLS handshakes" "$target" "$WORK/hs-$target.json"
        stop_server
        dtls_port=$((dtls_port + 2))
    done
else
    DTLS_NOTE="not measured: coap-bench has no DTLS mode yet (no coaps:// and --handshakes-only in its --help)"
fi

OBSERVE_NOTE="not measured: coap-bench has no observe mode yet (no --observe in its --help)"
if grep -q -- '--observe' <<<"$BENCH_HELP"; then
    # 10,000 endpoints each observe /obs, which changes every 10 ms (the shortest period) with
    # CON notifications, each acknowledged: 1,000,000 notifications/s offered. The server
    # coalesces (RFC 7641 §4.5.2), so the row is what one coapd thread delivers. The
    # registrations are paced (a bounded number in flight): at least 2 s of warm-up.
    obs_port=$((PORT + index + 20))
    obs_warmup=$(awk -v w="$WARMUP" 'BEGIN { print (w < 2 ? 2 : w) }')
    read -r -a command <<<"$(server_command coapd "$obs_port")"
    start_server "$WORK/observe.log" "$SERVER_CPUS" "$obs_port" "${command[@]}" \
        --max-observers 10000 --observe-period-ms 10
    pin=()
    [[ -n $CLIENT_CPU ]] && pin=(--cpu "$CLIENT_CPU")
    "$BENCH" "${pin[@]}" --endpoints 10000 --warmup "$obs_warmup" --duration "$DURATION" --json \
        --observe --server-pid "$SERVER_PID" "coap://127.0.0.1:$obs_port/obs" \
        >"$WORK/observe.json" 2>"$WORK/observe.err" || echo '{"failed":1}' >"$WORK/observe.json"
    stop_server
    registered=$(json_field "$WORK/observe.json" observers)
    notified=$(json_field "$WORK/observe.json" observers_notified)
    extra_row "Observe /obs (CON, 10 ms): ${registered:-?} of 10000 observers registered, ${notified:-?} notified" \
        coapd "$WORK/observe.json"
    OBSERVE_NOTE=""
fi

# --- micro-benchmarks ------------------------------------------------------------------------

MICRO="$WORK/micro.csv"
: >"$MICRO"
for micro in "${MICRO_BENCHES[@]}"; do
    if [[ ! -x $BIN/$micro ]]; then
        say "$BIN/$micro is missing (Google Benchmark not found at configure time?): skipped"
        continue
    fi
    say "micro-benchmarks: $micro"
    "$BIN/$micro" --benchmark_min_time="$MICRO_MIN_TIME" --benchmark_format=csv 2>/dev/null |
        awk -F, -v binary="$micro" '$1 ~ /^"/ { print binary "," $0 }' >>"$MICRO"
done

# --- the report ------------------------------------------------------------------------------

CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
COMPILER=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null | head -1)
COMPILER_VERSION=$("${COMPILER:-c++}" --version 2>/dev/null | head -1)
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null | head -1)
LIBCOAP_VERSION=$(dpkg-query -W -f='${Version}' libcoap3-bin 2>/dev/null || echo "?")
ELAPSED=$((SECONDS - START_SECONDS))

REPORT="$WORK/report.md"
{
    echo "<!-- Generated by bench/run_bench.sh (make bench); edit the script, not this section. -->"
    echo
    echo "### Latest \`make bench\`$([[ $QUICK == 1 ]] && echo " (QUICK=1)")"
    echo
    echo "| Run | |"
    echo "|---|---|"
    echo "| Date | $(date -u '+%F %T UTC') |"
    echo "| CPU | $CPU_MODEL |"
    echo "| Cores | $CPUS (\`nproc\`) |"
    echo "| Kernel | $(uname -r) |"
    echo "| Compiler | ${COMPILER_VERSION:-?}, CMAKE_BUILD_TYPE ${BUILD_TYPE:-?} |"
    echo "| libcoap | \`$LIBCOAP_SERVER\` from libcoap3-bin $LIBCOAP_VERSION |"
    echo "| Pinning | $PINNING |"
    echo "| Load | $ENDPOINTS client endpoints x window $WINDOW (closed loop), ${WARMUP} s warm-up + ${DURATION} s measured, median of $REPEATS run(s) per cell |"
    echo "| Load average | $LOAD_BEFORE before, $LOAD_AFTER after the server runs; whole script ${ELAPSED} s |"
    echo
    echo "Server throughput. \"2.xx/s\" counts the requests answered with a success code, \"answers/s\""
    echo "every answer (4.29 included); \"not 2.xx\" (coap-bench; first code in brackets) and \"timeouts\""
    echo "show what was refused or lost; \"refused\" is coapd's own count of rate-limited plus shed"
    echo "requests over the run, warm-up included (4.29 for CON; silence for NON, whose endpoint then"
    echo "waits for the 2 s timeout, so a short run may see few answers). \"srv CPU\" is the server's"
    echo "utime+stime over the measured window, per answer. Each server is started anew for every run."
    echo
    echo "| server | type | payload | 2.xx/s | runs min-max | answers/s | p50 us | p99 us | srv CPU % | srv CPU us/req | bench CPU % | not 2.xx | timeouts | retrans | refused |"
    echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    while IFS=$'\t' read -r name type payload file low high refused; do
        first=$(sed -n 's/.*were not 2.xx (first: \([0-9.]*\).*/\1/p' "$file.err" 2>/dev/null | head -1)
        printf '| %s | %s | %s | %s | %s-%s | %s | %s | %s | %s | %s | %s | %s%s | %s | %s | %s |\n' \
            "$name" "$type" "$payload" "$(round "$(ok_rate "$file")")" \
            "$(round "$low")" "$(round "$high")" "$(round "$(json_field "$file" requests_per_s)")" \
            "$(json_field "$file" p50)" "$(json_field "$file" p99)" \
            "$(json_field "$file" server_cpu_pct)" "$(json_field "$file" server_cpu_us_per_request)" \
            "$(json_field "$file" client_cpu_pct)" "$(json_field "$file" non_success)" \
            "${first:+ ($first)}" "$(json_field "$file" timeouts)" \
            "$(json_field "$file" retransmissions)" "$refused"
    done <"$CELLS"
    echo
    echo "Ratios (coapd with 1 thread; rates are 2.xx answers per second; CPU = server CPU time per answer):"
    echo
    echo "| type | payload | 2.xx/s ours/reflector | 2.xx/s ours/libcoap | CPU ours/reflector | CPU ours/libcoap | 2.xx/s coapd $CPUS threads / 1 thread |"
    echo "|---|--:|--:|--:|--:|--:|--:|"
    awk -F'\t' -v cpus="$CPUS" '
    function field(file, key,    line, rest) {
        line = ""
        while ((getline rest < file) > 0) line = line rest
        close(file)
        if (!match(line, "\"" key "\":[^,}]*")) return ""
        rest = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
        return rest
    }
    function ratio(a, b) { return (a != "" && a != "null" && b + 0 > 0) ? sprintf("%.2f", a / b) : "n/a" }
    {
        key = $2 SUBSEP $3
        seconds = field($4, "measured_s")
        rate[$1, key] = seconds > 0 ? (field($4, "completed") - field($4, "non_success")) / seconds : ""
        cpu[$1, key] = field($4, "server_cpu_us_per_request")
        if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    }
    END {
        for (i = 1; i <= n; ++i) {
            k = order[i]; split(k, part, SUBSEP)
            printf "| %s | %s | %s | %s | %s | %s | %s |\n", part[1], part[2],
                ratio(rate["coapd", k], rate["reflector", k]), ratio(rate["coapd", k], rate["libcoap", k]),
                ratio(cpu["coapd", k], cpu["reflector", k]), ratio(cpu["coapd", k], cpu["libcoap", k]),
                (cpus >= 2 ? ratio(rate["coapd-mt", k], rate["coapd", k]) : "n/a (1 CPU)")
        }
    }' "$CELLS"
    echo
    echo "DTLS (CON PUT 100 B to /echo, and handshakes/s) and Observe (10,000 endpoints each observing"
    echo "/obs, changed every 10 ms, CON notifications: \"req/s\" is notifications/s delivered, \"srv CPU"
    echo "us/req\" server CPU per notification, \"timeouts\" endpoints with no observation at the end):"
    echo
    if [[ -s $EXTRA_ROWS ]]; then
        echo "| what | server | req/s | handshakes/s | srv CPU us/req | not 2.xx / timeouts |"
        echo "|---|---|--:|--:|--:|--:|"
        cat "$EXTRA_ROWS"
        echo
    fi
    [[ -n $DTLS_NOTE ]] && echo "- DTLS: $DTLS_NOTE"
    [[ -n $OBSERVE_NOTE ]] && echo "- Observe: $OBSERVE_NOTE"
    echo
    echo "Micro-benchmarks (Google Benchmark, \`--benchmark_min_time=$MICRO_MIN_TIME\`, one run; CPU time"
    echo "per operation, which is steadier than wall time on a shared machine):"
    echo
    echo "| binary | benchmark | ns/op (CPU) | ns/op (wall) |"
    echo "|---|---|--:|--:|"
    awk -F, '{
        gsub(/"/, "", $2)
        unit = $6; scale = unit == "us" ? 1000 : unit == "ms" ? 1e6 : 1
        printf "| %s | `%s` | %.1f | %.1f |\n", $1, $2, $5 * scale, $4 * scale
    }' "$MICRO"
} >"$REPORT"

cat "$REPORT"

# Splice the report between the markers (appended with them when they are missing).
if [[ $WRITE_MD == 1 ]]; then
    if [[ ! -f $BENCHMARKS_MD ]] || ! grep -q '<!-- bench:begin -->' "$BENCHMARKS_MD"; then
        printf '\n<!-- bench:begin -->\n<!-- bench:end -->\n' >>"$BENCHMARKS_MD"
    fi
    awk -v report="$REPORT" '
        /<!-- bench:begin -->/ { print; while ((getline line < report) > 0) print line; skip = 1; next }
        /<!-- bench:end -->/ { skip = 0 }
        !skip { print }' "$BENCHMARKS_MD" >"$WORK/benchmarks.md"
    cat "$WORK/benchmarks.md" >"$BENCHMARKS_MD"
    say "results written to $BENCHMARKS_MD (between <!-- bench:begin --> and <!-- bench:end -->)"
fi
say "done in $((SECONDS - START_SECONDS)) s"
