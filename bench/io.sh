#!/usr/bin/env bash
# The two IO paths of the std transport against each other (issue 15): quinn-udp and the
# hand-written recvmmsg/sendmmsg/GSO/GRO code (RUDP_IO=batch), from one release build, on
# loopback.
#
#   bash bench/io.sh [SIZE_MIB] [REPS]      (defaults: 32 MiB, 5 repetitions)
#
# Each repetition sends a SIZE_MIB random file at window 32, then at window 1 (both with the
# default --busy-poll 50us), once with each path; which path goes first alternates from one
# repetition to the next. Both ends of a transfer use the same path. Every output is checked
# byte for byte. Prints every sample and the medians, and the load before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${1:-32}
REPS=${2:-5}
WORK=$(mktemp -d /tmp/rudp-io.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

cargo build --quiet --release -p rudp-host-tools --bin rudp
RUDP=$PWD/target/release/rudp
# free_port, now, median, run_rudp
source bench/lib.sh

head -c $((SIZE_MIB * 1048576)) /dev/urandom >"$WORK/in.bin"
echo "load before: $(uptime)"
for rep in $(seq "$REPS"); do
    if [ $((rep % 2)) -eq 1 ]; then order="batch quinn"; else order="quinn batch"; fi
    echo "repetition $rep/$REPS ($order first)" >&2
    for window in 32 1; do
        for io in $order; do
            RUDP_IO=$io run_rudp "$WORK/in.bin" 50us --window "$window" >>"$WORK/$io-w$window"
        done
    done
done
echo "load after: $(uptime)"

echo
echo "rudp IO paths, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), ${SIZE_MIB} MiB, median of $REPS (MB/s)"
for window in 32 1; do
    b=$(median <"$WORK/batch-w$window")
    q=$(median <"$WORK/quinn-w$window")
    echo "window $window: hand-written $b, quinn-udp $q, quinn-udp / hand-written $(awk -v q="$q" -v b="$b" 'BEGIN {printf "%.3f", q / b}')"
    echo "  samples hand-written: $(tr '\n' ' ' <"$WORK/batch-w$window")"
    echo "  samples quinn-udp:    $(tr '\n' ' ' <"$WORK/quinn-w$window")"
done
