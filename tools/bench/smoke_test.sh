#!/usr/bin/env bash
# ctest coap_bench_smoke: coap-bench against a coapd on a free port, briefly, with each engine
# and load shape; every run must complete requests and print the JSON fields that
# bench/compare_servers.sh reads. Usage: smoke_test.sh BIN_DIR
set -euo pipefail

BIN=${1:?usage: smoke_test.sh BIN_DIR}
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

"$BIN/coapd" --bind 127.0.0.1 --port 0 --log-level warn --observe-period-ms 20 >"$WORK/coapd.log" 2>&1 &
COAPD_PID=$!
PORT=""
for _ in $(seq 50); do
    PORT=$(sed -n 's|^coapd: serving coap://127.0.0.1:\([0-9]*\) .*|\1|p' "$WORK/coapd.log")
    [[ -n $PORT ]] && break
    sleep 0.05
done
if [[ -z $PORT ]]; then
    echo "smoke_test: coapd did not start:" >&2
    cat "$WORK/coapd.log" >&2
    exit 1
fi

# run LABEL ARGS...: one short run; checks the JSON.
run() {
    local label=$1
    shift
    local line
    line=$("$BIN/coap-bench" --endpoints 8 --window 2 --warmup 0.1 --duration 0.3 --json "$@")
    for key in type window requests_per_s p50 p99 timeouts server_cpu_pct \
        server_cpu_us_per_request udp_rcvbuf_drops_host client_cpu_pct retransmissions; do
        if [[ $line != *"\"$key\":"* ]]; then
            echo "smoke_test: $label: no \"$key\" in $line" >&2
            exit 1
        fi
    done
    if [[ $line =~ \"completed\":0, || ! $line =~ \"completed\":[0-9]+ ]]; then
        echo "smoke_test: $label: nothing completed: $line" >&2
        exit 1
    fi
    echo "$label: $line"
}

URI="coap://127.0.0.1:$PORT"
run "core CON GET" "$URI/test"
run "core NON PUT 100 B" --non --method put --payload-size 100 "$URI/test"
run "core open loop POST 1000 B" --rate 2000 --method post --payload-size 1000 "$URI/test"
run "core CON GET over epoll" --io epoll "$URI/test"
run "raw CON GET" --engine raw "$URI/test"
# coaps:// without a key: a clear error, exit status 2.
status=0
"$BIN/coap-bench" "coaps://127.0.0.1:$PORT/test" 2>"$WORK/coaps.err" || status=$?
if [[ $status != 2 ]] || ! grep -q -- "-u IDENTITY -k KEY" "$WORK/coaps.err"; then
    echo "smoke_test: coaps:// without -u/-k should fail with status 2 and name them" >&2
    cat "$WORK/coaps.err" >&2
    exit 1
fi

# observe LABEL PATH ENDPOINTS SECONDS KIND: a short --observe run against coapd's observable
# resources (changed every 20 ms); every endpoint must be registered and notified, with KIND
# (con or non) notifications among them.
observe() {
    local label=$1 path=$2 endpoints=$3 seconds=$4 kind=$5 line key
    line=$("$BIN/coap-bench" --observe --endpoints "$endpoints" --warmup 0.3 --duration "$seconds" \
        --json --server-pid "$COAPD_PID" "$URI$path")
    for key in requests_per_s notifications_per_s observers con_notifications non_notifications \
        acks_sent non_success timeouts server_cpu_us_per_request; do
        if [[ $line != *"\"$key\":"* ]]; then
            echo "smoke_test: $label: no \"$key\" in $line" >&2
            exit 1
        fi
    done
    if [[ ! $line =~ \"${kind}_notifications\":[1-9] || $line != *"\"observers\":$endpoints,"* ||
        $line != *"\"observers_notified\":$endpoints,"* || $line != *"\"timeouts\":0,"* ]]; then
        echo "smoke_test: $label: not every observer registered and notified: $line" >&2
        exit 1
    fi
    echo "$label: $line"
}
observe "observe CON /obs" /obs 50 1 con
observe "observe NON /obs-non" /obs-non 20 0.5 non
status=0
"$BIN/coap-bench" --observe "coaps://127.0.0.1:$PORT/obs" 2>"$WORK/observe.err" || status=$?
if [[ $status != 2 ]] || ! grep -q -- "coap:// URI" "$WORK/observe.err"; then
    echo "smoke_test: --observe with coaps:// should fail with status 2" >&2
    cat "$WORK/observe.err" >&2
    exit 1
fi

# coaps:// against libcoap's coap-server-openssl (PSK; DTLS on its port + 1), when installed.
LIBCOAP=/usr/bin/coap-server-openssl
if [[ ! -x $LIBCOAP ]]; then
    echo "smoke_test: $LIBCOAP is missing (libcoap3-bin): coaps:// runs skipped"
    exit 0
fi
DTLS_PORT=""
for _ in 1 2 3; do  # a random port pair may be taken: the server then exits at once
    base=$((20000 + RANDOM % 40000))
    "$LIBCOAP" -A 127.0.0.1 -p "$base" -k smoke-key >"$WORK/libcoap.log" 2>&1 &
    LIBCOAP_PID=$!
    for _ in $(seq 20); do
        if "$BIN/coap-bench" --endpoints 1 --warmup 0.05 --duration 0.05 -u smoke -k smoke-key \
            "coaps://127.0.0.1:$((base + 1))/" >/dev/null 2>&1; then
            DTLS_PORT=$((base + 1))
            break
        fi
        kill -0 "$LIBCOAP_PID" 2>/dev/null || break
    done
    [[ -n $DTLS_PORT ]] && break
    kill "$LIBCOAP_PID" 2>/dev/null || true
    wait "$LIBCOAP_PID" 2>/dev/null || true
done
if [[ -z $DTLS_PORT ]]; then
    echo "smoke_test: coap-server-openssl did not answer over DTLS:" >&2
    cat "$WORK/libcoap.log" >&2
    exit 1
fi
trap 'kill "$LIBCOAP_PID" 2>/dev/null || true; wait "$LIBCOAP_PID" 2>/dev/null || true; cleanup' EXIT
SURI="coaps://127.0.0.1:$DTLS_PORT"
run "core coaps CON GET" -u smoke -k smoke-key "$SURI/"
run "core coaps CON GET over epoll" --io epoll -u smoke -k smoke-key "$SURI/"

# handshakes LABEL ARGS...: a short --handshakes-only run; checks the JSON.
handshakes() {
    local label=$1
    shift
    local line
    line=$("$BIN/coap-bench" --endpoints 4 --warmup 0.1 --duration 0.3 --json --handshakes-only \
        -u smoke -k smoke-key "$@" "$SURI/")
    for key in handshakes_per_s completed resumed timeouts latency_us client_cpu_pct; do
        if [[ $line != *"\"$key\":"* ]]; then
            echo "smoke_test: $label: no \"$key\" in $line" >&2
            exit 1
        fi
    done
    if [[ $line =~ \"completed\":0, || ! $line =~ \"completed\":[0-9]+ ]]; then
        echo "smoke_test: $label: no handshake completed: $line" >&2
        exit 1
    fi
    echo "$label: $line"
}
handshakes "full handshakes"
handshakes "abbreviated handshakes" --resume
