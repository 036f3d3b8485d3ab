#!/usr/bin/env bash
# Benchmarks on loopback, every figure from this one run (these machines are shared and
# noisy: compare ratios measured together, never figures from different runs).
#
#   bash bench/run.sh [SIZE_MIB] [REPS]          (defaults: 32 MiB, 3 repetitions)
#   bash bench/run.sh serve [MIB_EACH] [REPS]    (the `rudp serve` scenario alone; defaults: 8
#                                                MiB, 3 rounds; `serve 1 1` is a quick check)
#
# Measures, interleaved REPS times (the median is reported):
#   - the stop-and-wait limit of the path: our raw UDP ping-pong with rudp's frame sizes,
#     512 bytes / RTT (host-tools/examples/pingpong.rs), blocking in recv as tftp-hpa does,
#     and polling 50 us before it blocks as rudp does by default (--busy-poll 50us);
#   - rudp send -> rudp recv of a SIZE_MIB random file at window 1, blocking (--busy-poll
#     0us) and polling (the default), and at window 32;
#   - tftp-hpa (in.tftpd + tftp, 512-byte blocks, also stop-and-wait) on the same file;
#   - rs-tftpd's tftpc -w 32 (RFC 7440 window), 512-byte and 1468-byte blocks;
# then runs through `rudp relay`: window 32 at 1% loss and 1 ms delay each way (reno and
# fixed), window 1 at 5% loss and 1 ms; and the peak RSS of `rudp recv` for 1 MiB and
# 256 MiB; and, interleaved REPS rounds, 8 senders at once (window 32, 8 MiB each of its own
# random data, each its own --name) into one `rudp serve`, against one sender alone into
# `rudp serve` and into `rudp recv`: the aggregate MB/s of the 8 / the single sender's, and the
# fairness (slowest sender's MB/s / fastest's). Every output is checked byte for byte; a
# difference (or a failed transfer) fails the benchmark, a figure never does.
# Needs root for apt-get (tftpd-hpa, tftp-hpa, time) when they are missing (not in `serve`
# mode, which needs nothing but the build). Loopback only.
set -euo pipefail
# Files are sent with CRC-32C, as before resume made SHA-256 (and hashing the file first) the
# default for a file: the figures stay comparable with the earlier runs in BENCHMARKS.md.
DIGEST="--digest crc32c"
cd "$(dirname "$0")/.."

SERVE_ONLY=
if [ "${1:-}" = serve ]; then
    SERVE_ONLY=1
    shift
fi
SIZE_MIB=${1:-32}
REPS=${2:-3}
# Each sender's size in the serve scenario: 8 MiB, or MIB_EACH in `serve` mode.
SERVE_MIB=8
if [ -n "$SERVE_ONLY" ]; then
    SERVE_MIB=${1:-8}
fi
SERVE_SENDERS=8
WORK=$(mktemp -d /tmp/rudp-bench.XXXXXX)
chmod 755 "$WORK"
TFTPD_PID=
RS_PID=
SERVE_PID=
cleanup() {
    [ -n "$RS_PID" ] && kill "$RS_PID" 2>/dev/null
    [ -n "$TFTPD_PID" ] && kill "$TFTPD_PID" 2>/dev/null
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if [ -n "$SERVE_ONLY" ]; then
    : # rudp alone
elif ! need in.tftpd || ! need tftp || [ ! -x /usr/bin/time ]; then
    echo "installing tftpd-hpa, tftp-hpa, time" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tftpd-hpa tftp-hpa time >/dev/null
    # The package starts a system tftpd on port 69; this benchmark runs its own.
    service tftpd-hpa stop >/dev/null 2>&1 || true
fi

# rs-tftpd (issue 8's comparison: a windowed TFTP, RFC 7440), from crates.io.
if [ -z "$SERVE_ONLY" ] && { ! need tftpc || ! need tftpd; }; then
    echo "installing rs-tftpd (cargo install tftpd --features client)" >&2
    cargo install --quiet tftpd --features client
fi
cargo build --quiet --release -p rudp-host-tools --bin rudp --example pingpong
RUDP=$PWD/target/release/rudp
PINGPONG=$PWD/target/release/examples/pingpong

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

head -c $((SIZE_MIB * 1048576)) /dev/urandom >"$WORK/in.bin"
chmod 644 "$WORK/in.bin"
BYTES=$(stat -c %s "$WORK/in.bin")

run_pingpong() { # run_pingpong <busy poll us>: prints MB/s
    "$PINGPONG" 100000 "$1" | sed -n 's/.*limit \([0-9.]*\) MB\/s.*/\1/p'
}

run_rudp() { # run_rudp <file> <busy poll> [send args...]: prints MB/s (wall clock of the sender)
    local file=$1 busy_poll=$2
    shift 2
    local port
    port=$(free_port)
    rm -f "$WORK/out.bin"
    "$RUDP" recv "$port" --bind 127.0.0.1 -q -o "$WORK/out.bin" --busy-poll "$busy_poll" &
    local rx=$!
    while ! ss -uln | grep -q "127.0.0.1:$port "; do sleep 0.01; done
    local t0 t1
    t0=$(now)
    "$RUDP" send 127.0.0.1 "$port" "$file" -q --busy-poll "$busy_poll" $DIGEST "$@"
    t1=$(now)
    wait "$rx"
    cmp -s "$file" "$WORK/out.bin" || { echo "rudp output differs" >&2; exit 1; }
    awk -v b="$(stat -c %s "$file")" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.2f\n", b / (t1 - t0) / 1e6}'
}

# Many senders into one `rudp serve`. Each sender sends its own random file (a transfer given
# another's data, or the wrong name, would show in the comparison), named with --name.
for i in $(seq "$SERVE_SENDERS"); do
    head -c $((SERVE_MIB * 1048576)) /dev/urandom >"$WORK/s$i.bin"
done
SERVE_BYTES=$(stat -c %s "$WORK/s1.bin")

start_serve() { # start_serve <dir>: a fresh `rudp serve` into <dir>; sets SERVE_PID, SERVE_PORT
    SERVE_PORT=$(free_port)
    rm -rf "$1"
    mkdir -p "$1"
    "$RUDP" serve "$SERVE_PORT" "$1" --bind 127.0.0.1 -q &
    SERVE_PID=$!
    while ! ss -uln | grep -q "127.0.0.1:$SERVE_PORT "; do sleep 0.01; done
}

stop_serve() { # SIGTERM: nothing runs, so it ends at once (its exit status must be 0)
    kill -TERM "$SERVE_PID"
    wait "$SERVE_PID"
    SERVE_PID=
}

check_served() { # check_served <dir> <name> <source>: the file in place, byte for byte
    cmp -s "$3" "$1/$2" || { echo "rudp serve: $1/$2 differs from $3 (or is missing)" >&2; exit 1; }
}

# These two run in the benchmark's shell (not in $(...)), so that a failure stops the server.
run_serve_one() { # one sender alone into `rudp serve`: prints "<MB/s> <MB/s>", the first from
    # the wall clock of the sender's process (as the aggregate is measured), the second from
    # its summary line (without the process's start and end: a stricter comparison)
    local dir=$WORK/served-one t0 t1
    start_serve "$dir"
    t0=$(now)
    "$RUDP" send 127.0.0.1 "$SERVE_PORT" "$WORK/s1.bin" --name one.bin --window 32 $DIGEST 2>"$WORK/one.log"
    t1=$(now)
    stop_serve
    check_served "$dir" one.bin "$WORK/s1.bin"
    rm -rf "$dir"
    awk -v b="$SERVE_BYTES" -v t0="$t0" -v t1="$t1" -v s="$(sed -n 's/^rudp: sent .*(\([0-9.]*\) MB\/s).*/\1/p' "$WORK/one.log")" \
        'BEGIN {printf "%.2f %s\n", b / (t1 - t0) / 1e6, s}'
}

run_serve_many() { # SERVE_SENDERS senders at once into one `rudp serve`: prints "<aggregate
    # MB/s> <fairness> <slowest MB/s> <fastest MB/s>"; the aggregate is all bytes over the wall
    # time from the first sender's start to the last one's end, each sender's MB/s its summary
    # line's. A sender that fails fails the benchmark (set -e at its wait).
    local dir=$WORK/served-many t0 t1 i pid pids=()
    start_serve "$dir"
    t0=$(now)
    for i in $(seq "$SERVE_SENDERS"); do
        "$RUDP" send 127.0.0.1 "$SERVE_PORT" "$WORK/s$i.bin" --name "s$i.bin" --window 32 $DIGEST \
            2>"$WORK/s$i.log" &
        pids+=("$!")
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    t1=$(now)
    stop_serve
    for i in $(seq "$SERVE_SENDERS"); do
        check_served "$dir" "s$i.bin" "$WORK/s$i.bin"
        sed -n 's/^rudp: sent .*(\([0-9.]*\) MB\/s).*/\1/p' "$WORK/s$i.log" >>"$WORK/serve-senders"
    done
    rm -rf "$dir"
    for i in $(seq "$SERVE_SENDERS"); do
        sed -n 's/^rudp: sent .*(\([0-9.]*\) MB\/s).*/\1/p' "$WORK/s$i.log"
    done | awk -v b="$((SERVE_BYTES * SERVE_SENDERS))" -v t0="$t0" -v t1="$t1" -v n="$SERVE_SENDERS" '
        NR == 1 || $1 < lo {lo = $1} NR == 1 || $1 > hi {hi = $1}
        END {
            if (NR != n || lo <= 0) {print "missing summary lines" > "/dev/stderr"; exit 1}
            printf "%.2f %.2f %.2f %.2f\n", b / (t1 - t0) / 1e6, lo / hi, lo, hi
        }'
}

serve_scenario() { # REPS interleaved rounds of the three; sets the SERVE_* figures (medians)
    : >"$WORK/serve-recv" >"$WORK/serve-one" >"$WORK/serve-many" >"$WORK/serve-senders"
    : >"$WORK/serve-ratio" >"$WORK/serve-fair" >"$WORK/serve-ratio-strict"
    local round one many
    for round in $(seq "$REPS"); do
        echo "serve round $round/$REPS" >&2
        run_rudp "$WORK/s1.bin" 50us --window 32 >>"$WORK/serve-recv"
        run_serve_one >>"$WORK/serve-one"
        run_serve_many >>"$WORK/serve-many"
        one=$(tail -n 1 "$WORK/serve-one" | cut -d' ' -f1)
        many=$(tail -n 1 "$WORK/serve-many")
        awk -v a="${many%% *}" -v b="$one" 'BEGIN {printf "%.2f\n", a / b}' >>"$WORK/serve-ratio"
        cut -d' ' -f2 <<<"$many" >>"$WORK/serve-fair"
        awk -v a="${many%% *}" -v b="$(tail -n 1 "$WORK/serve-one" | cut -d' ' -f2)" \
            'BEGIN {printf "%.2f\n", a / b}' >>"$WORK/serve-ratio-strict"
    done
    SERVE_RECV_MBS=$(median <"$WORK/serve-recv")
    SERVE_ONE_MBS=$(cut -d' ' -f1 "$WORK/serve-one" | median)
    SERVE_ONE_SUMMARY_MBS=$(cut -d' ' -f2 "$WORK/serve-one" | median)
    SERVE_RATIO_STRICT=$(median <"$WORK/serve-ratio-strict")
    SERVE_AGG_MBS=$(cut -d' ' -f1 "$WORK/serve-many" | median)
    SERVE_RATIO=$(median <"$WORK/serve-ratio")
    SERVE_FAIR=$(median <"$WORK/serve-fair")
}

spread() { sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s-%s", lo, hi}'; }
below() { awk -v v="$1" -v t="$2" 'BEGIN {if (v < t) print " BELOW TARGET"}'; }

serve_rows() { # the scenario's rows of the table, then its samples
    printf '| %-52s | %7s MB/s | %8s |\n' "1 sender into rudp recv (w32, ${SERVE_MIB} MiB)" "$SERVE_RECV_MBS" ""
    printf '| %-52s | %7s MB/s | %8s |\n' "1 sender into rudp serve (w32, ${SERVE_MIB} MiB)" "$SERVE_ONE_MBS" "1.00"
    printf '| %-52s | %7s MB/s | %8s |\n' "  the same, its summary line (no process start/end)" "$SERVE_ONE_SUMMARY_MBS" ""
    printf '| %-52s | %7s MB/s | %8s |\n' "$SERVE_SENDERS senders at once into rudp serve, aggregate" "$SERVE_AGG_MBS" "$SERVE_RATIO"
    printf '| %-52s | %12s | %8s |\n' "  aggregate / the single sender's summary line" "" "$SERVE_RATIO_STRICT"
    printf '| %-52s | %12s | %8s |\n' "  fairness: slowest / fastest sender's MB/s" "" "$SERVE_FAIR"
    echo "serve: aggregate / single (median of the rounds' ratios) $SERVE_RATIO, spread $(spread <"$WORK/serve-ratio") (target >= 1.0)$(below "$SERVE_RATIO" 1.0)"
    echo "serve: fairness (median of rounds) $SERVE_FAIR, spread $(spread <"$WORK/serve-fair") (target >= 0.5)$(below "$SERVE_FAIR" 0.5)"
    echo "serve: aggregate / single's summary line (median of rounds) $SERVE_RATIO_STRICT, spread $(spread <"$WORK/serve-ratio-strict")"
    echo "serve samples (MB/s): recv $(tr '\n' ' ' <"$WORK/serve-recv")| serve 1 (wall) $(cut -d' ' -f1 "$WORK/serve-one" | tr '\n' ' ')| serve 1 (summary) $(cut -d' ' -f2 "$WORK/serve-one" | tr '\n' ' ')| serve ${SERVE_SENDERS} aggregate $(cut -d' ' -f1 "$WORK/serve-many" | tr '\n' ' ')"
    echo "serve samples: each round's 'aggregate fairness slowest fastest': $(tr '\n' ';' <"$WORK/serve-many")"
    echo "serve samples: every sender's MB/s (summary line): $(tr '\n' ' ' <"$WORK/serve-senders")"
}

table_header() { # table_header <what>
    echo
    echo "rudp benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), $1, median of $REPS"
    printf '| %-52s | %12s | %8s |\n' "measure" "value" "ratio"
    printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..10})"
}

if [ -n "$SERVE_ONLY" ]; then
    serve_scenario
    table_header "serve scenario alone"
    serve_rows
    exit 0
fi

start_tftpd() {
    TFTP_PORT=$(free_port)
    in.tftpd -L -a "127.0.0.1:$TFTP_PORT" -s "$WORK" -u tftp &
    TFTPD_PID=$!
    while ! ss -uln | grep -q "127.0.0.1:$TFTP_PORT "; do sleep 0.01; done
}

start_rs_tftpd() {
    RS_PORT=$(free_port)
    mkdir -p "$WORK/rs"
    tftpd -i 127.0.0.1 -p "$RS_PORT" -d "$WORK" -r -q >/dev/null 2>&1 &
    RS_PID=$!
    while ! ss -uln | grep -q "127.0.0.1:$RS_PORT "; do sleep 0.01; done
}

run_rs_tftp() { # run_rs_tftp [tftpc args...]: prints MB/s
    rm -f "$WORK/rs/in.bin"
    local t0 t1
    t0=$(now)
    tftpc in.bin -i 127.0.0.1 -p "$RS_PORT" -d -rd "$WORK/rs" -q "$@" >/dev/null 2>&1
    t1=$(now)
    cmp -s "$WORK/in.bin" "$WORK/rs/in.bin" || { echo "rs-tftpd output differs" >&2; exit 1; }
    awk -v b="$BYTES" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.2f\n", b / (t1 - t0) / 1e6}'
}

run_tftp() { # prints MB/s
    rm -f "$WORK/tftp.out"
    local t0 t1
    t0=$(now)
    tftp 127.0.0.1 "$TFTP_PORT" -m binary -c get in.bin "$WORK/tftp.out"
    t1=$(now)
    cmp -s "$WORK/in.bin" "$WORK/tftp.out" || { echo "tftp output differs" >&2; exit 1; }
    awk -v b="$BYTES" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.2f\n", b / (t1 - t0) / 1e6}'
}

start_tftpd
start_rs_tftpd
: >"$WORK/limit" >"$WORK/plimit" >"$WORK/rudp" >"$WORK/prudp" >"$WORK/tftp" >"$WORK/rudp32" >"$WORK/rs32" >"$WORK/rs32b"
for rep in $(seq "$REPS"); do
    echo "repetition $rep/$REPS" >&2
    run_pingpong 0 >>"$WORK/limit"
    run_rudp "$WORK/in.bin" 0us --window 1 >>"$WORK/rudp"
    run_tftp >>"$WORK/tftp"
    run_pingpong 50 >>"$WORK/plimit"
    run_rudp "$WORK/in.bin" 50us --window 1 >>"$WORK/prudp"
    run_rudp "$WORK/in.bin" 50us --window 32 >>"$WORK/rudp32"
    run_rs_tftp -w 32 >>"$WORK/rs32"
    run_rs_tftp -w 32 -b 1468 >>"$WORK/rs32b"
done
RS32_MBS=$(median <"$WORK/rs32")
RS32B_MBS=$(median <"$WORK/rs32b")
LIMIT=$(median <"$WORK/limit")
PLIMIT=$(median <"$WORK/plimit")
RUDP_MBS=$(median <"$WORK/rudp")
PRUDP_MBS=$(median <"$WORK/prudp")
TFTP_MBS=$(median <"$WORK/tftp")
RUDP32_MBS=$(median <"$WORK/rudp32")

# relay_transfer <name> <bytes> <relay options> -- <send options>: sends the first <bytes>
# of the input through `rudp relay`, checks the copy, and prints the sender's summary line.
relay_transfer() {
    local name=$1 bytes=$2
    shift 2
    local relay_args=()
    while [ "$1" != "--" ]; do relay_args+=("$1"); shift; done
    shift
    head -c "$bytes" "$WORK/in.bin" >"$WORK/$name.bin"
    local rx_port relay_port rx relay
    rx_port=$(free_port)
    "$RUDP" recv "$rx_port" --bind 127.0.0.1 -q -o "$WORK/$name.out" --idle-timeout 60s &
    rx=$!
    "$RUDP" relay --listen 127.0.0.1:0 --to "127.0.0.1:$rx_port" "${relay_args[@]}" 2>"$WORK/$name.relay.log" &
    relay=$!
    while ! grep -q "listening on" "$WORK/$name.relay.log"; do sleep 0.01; done
    relay_port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\),.*/\1/p' "$WORK/$name.relay.log")
    "$RUDP" send 127.0.0.1 "$relay_port" "$WORK/$name.bin" --idle-timeout 60s $DIGEST "$@" 2>"$WORK/$name.log"
    wait "$rx"
    kill "$relay" 2>/dev/null || true
    cmp -s "$WORK/$name.bin" "$WORK/$name.out" || { echo "$name output differs" >&2; exit 1; }
    grep "rudp: sent" "$WORK/$name.log"
}

# Window 32 through the relay with 1 ms delay each way and 1% loss: goodput against what a
# 32-frame window can carry per round trip (32 x 512 B / RTT), with each congestion policy.
# The RTT is measured through the same relay without loss: 512 B / the goodput of a
# stop-and-wait transfer of 512 KiB.
RTT_SUMMARY=$(relay_transfer rtt 524288 --delay 1ms -- --window 1)
RTT_MBS=$(sed -n 's/.* \([0-9]*\) bytes in \([0-9.]*\) s .*/\1 \2/p' <<<"$RTT_SUMMARY" | awk '{printf "%.4f", $1 / $2 / 1e6}')
RELAY_RTT_MS=$(awk -v g="$RTT_MBS" 'BEGIN {printf "%.3f", 512 / (g * 1e6) * 1e3}')
W_SUMMARY=$(relay_transfer window 8388608 --loss 1% --delay 1ms --seed 2 -- --window 32)
W_MBS=$(sed -n 's/.*(\([0-9.]*\) MB\/s).*/\1/p' <<<"$W_SUMMARY")
WF_SUMMARY=$(relay_transfer window-fixed 8388608 --loss 1% --delay 1ms --seed 2 -- --window 32 --congestion fixed)
WF_MBS=$(sed -n 's/.*(\([0-9.]*\) MB\/s).*/\1/p' <<<"$WF_SUMMARY")
W_IDEAL=$(awk -v g="$RTT_MBS" 'BEGIN {printf "%.2f", 32 * g}')

# Lossy: 4 MiB through the relay, 5% loss and 1 ms delay each way, stop-and-wait.
LOSSY_SUMMARY=$(relay_transfer lossy 4194304 --loss 5% --delay 1ms --seed 1 -- --window 1)
LOSSY_MBS=$(sed -n 's/.*(\([0-9.]*\) MB\/s).*/\1/p' <<<"$LOSSY_SUMMARY")
LOSSY_FRAMES=$(sed -n 's/.*, \([0-9]*\) frames sent.*/\1/p' <<<"$LOSSY_SUMMARY")
LOSSY_RETX=$(sed -n 's/.*, \([0-9]*\) retransmitted.*/\1/p' <<<"$LOSSY_SUMMARY")

# Peak RSS of the receiver: 1 MiB vs 256 MiB (constant memory).
rss_recv() { # rss_recv <MiB>: prints KiB
    local port
    port=$(free_port)
    /usr/bin/time -f %M -o "$WORK/rss" "$RUDP" recv "$port" --bind 127.0.0.1 -q >/dev/null &
    local rx=$!
    while ! ss -uln | grep -q "127.0.0.1:$port "; do sleep 0.01; done
    head -c $(($1 * 1048576)) /dev/zero | "$RUDP" send 127.0.0.1 "$port" - -q
    wait "$rx"
    cat "$WORK/rss"
}
RSS_1=$(rss_recv 1)
RSS_256=$(rss_recv 256)

serve_scenario

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
table_header "${SIZE_MIB} MiB"
printf '| %-52s | %7s MB/s | %8s |\n' "stop-and-wait limit (ping-pong blocking, 512 B / RTT)" "$LIMIT" "1.00"
printf '| %-52s | %7s MB/s | %8s |\n' "rudp window 1, blocking (--busy-poll 0us)" "$RUDP_MBS" "$(ratio "$RUDP_MBS" "$LIMIT")"
printf '| %-52s | %7s MB/s | %8s |\n' "tftp-hpa get, 512-byte blocks" "$TFTP_MBS" "$(ratio "$TFTP_MBS" "$LIMIT")"
printf '| %-52s | %12s | %8s |\n' "rudp window 1 blocking / tftp-hpa" "" "$(ratio "$RUDP_MBS" "$TFTP_MBS")"
printf '| %-52s | %7s MB/s | %8s |\n' "stop-and-wait limit (ping-pong polling 50 us)" "$PLIMIT" "1.00"
printf '| %-52s | %7s MB/s | %8s |\n' "rudp window 1, polling (default --busy-poll 50us)" "$PRUDP_MBS" "$(ratio "$PRUDP_MBS" "$PLIMIT")"
printf '| %-52s | %12s | %8s |\n' "rudp window 1 default / tftp-hpa" "" "$(ratio "$PRUDP_MBS" "$TFTP_MBS")"
printf '| %-52s | %7s MB/s | %8s |\n' "rudp window 32 (default --busy-poll 50us)" "$RUDP32_MBS" "$(ratio "$RUDP32_MBS" "$LIMIT")"
printf '| %-52s | %12s | %8s |\n' "rudp window 32 / window 1, both polling" "" "$(ratio "$RUDP32_MBS" "$PRUDP_MBS")"
printf '| %-52s | %7s MB/s | %8s |\n' "rs-tftpd, tftpc -w 32 (512-byte blocks)" "$RS32_MBS" ""
printf '| %-52s | %12s | %8s |\n' "rudp window 32 / rs-tftpd -w 32" "" "$(ratio "$RUDP32_MBS" "$RS32_MBS")"
printf '| %-52s | %7s MB/s | %8s |\n' "rs-tftpd, tftpc -w 32 -b 1468" "$RS32B_MBS" ""
printf '| %-52s | %12s | %8s |\n' "rudp window 32 / rs-tftpd -w 32 -b 1468" "" "$(ratio "$RUDP32_MBS" "$RS32B_MBS")"
printf '| %-52s | %7s MB/s | %8s |\n' "32 x 512 B / RTT via relay (RTT $RELAY_RTT_MS ms)" "$W_IDEAL" "1.00"
printf '| %-52s | %7s MB/s | %8s |\n' "window 32 via relay, 1 ms each way + 1% loss, reno" "$W_MBS" "$(ratio "$W_MBS" "$W_IDEAL")"
printf '| %-52s | %7s MB/s | %8s |\n' "  the same, --congestion fixed" "$WF_MBS" "$(ratio "$WF_MBS" "$W_IDEAL")"
printf '| %-52s | %7s MB/s | %8s |\n' "window 1 via relay, 5% loss + 1 ms each way, 4 MiB" "$LOSSY_MBS" ""
printf '| %-52s | %12s | %8s |\n' "  retransmissions per frame sent" "$LOSSY_RETX/$LOSSY_FRAMES" "$(ratio "$LOSSY_RETX" "$LOSSY_FRAMES")"
printf '| %-52s | %8s KiB | %8s |\n' "peak RSS of rudp recv, 1 MiB" "$RSS_1" ""
printf '| %-52s | %8s KiB | %8s |\n' "peak RSS of rudp recv, 256 MiB" "$RSS_256" "$(ratio "$RSS_256" "$RSS_1")"
serve_rows
echo "rs-tftpd samples (MB/s): -w 32 $(tr '\n' ' ' <"$WORK/rs32")| -w 32 -b 1468 $(tr '\n' ' ' <"$WORK/rs32b")"
echo "samples (MB/s): limit $(tr '\n' ' ' <"$WORK/limit")| rudp w1 blocking $(tr '\n' ' ' <"$WORK/rudp")| tftp $(tr '\n' ' ' <"$WORK/tftp")"
echo "samples (MB/s): polling limit $(tr '\n' ' ' <"$WORK/plimit")| rudp w1 polling $(tr '\n' ' ' <"$WORK/prudp")| rudp w32 $(tr '\n' ' ' <"$WORK/rudp32")"
echo "relay summaries: reno: $W_SUMMARY"
echo "                 fixed: $WF_SUMMARY"
