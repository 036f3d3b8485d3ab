#!/usr/bin/env bash
# Interop: rudp over smoltcp (smoltcp-tap, on a TAP device) against rudp over the kernel's UDP
# (the `rudp` CLI), both ways, byte for byte.
#
# Everything happens inside a network namespace of this script's own, with a TAP device in
# it: the kernel side has 192.168.69.1 on the TAP, smoltcp-tap attaches to the TAP as
# 192.168.69.2 (its own ARP, IPv4 and UDP). No address outside the namespace is ever used.
#
#   (a) smoltcp-tap send  ->  rudp recv --bind 192.168.69.1
#   (b) rudp send         ->  smoltcp-tap recv
#
# Needs root, /dev/net/tun and iproute2 (installed if missing). Builds what it needs (debug
# profile) from the repository root. Exit status: 0 if both directions pass.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

ns="rudp-tap-test-$$"
tap=tap0
kernel_ip=192.168.69.1
stack_ip=192.168.69.2
prefix=24
port=9000
size=$((300 * 1024))
# Each process is killed after this many seconds; a transfer takes well under one.
limit=60

say() { printf 'interop.sh: %s\n' "$*"; }
die() { say "error: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "needs root (network namespaces and a TAP device)"
[[ -c /dev/net/tun ]] || die "needs /dev/net/tun"
if ! command -v ip >/dev/null; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends iproute2 >/dev/null
fi

work="$(mktemp -d)"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    ip netns exec "$ns" ip link del "$tap" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

say "building rudp and smoltcp-tap"
(cd "$root" && cargo build --quiet -p rudp-host-tools -p smoltcp-tap)
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
rudp="$bin/rudp"
stack="$bin/smoltcp-tap"
[[ -x $rudp && -x $stack ]] || die "binaries not found in $bin"

in_ns() { ip netns exec "$ns" "$@"; }

say "namespace $ns: $tap with $kernel_ip/$prefix (kernel) and $stack_ip/$prefix (smoltcp)"
ip netns add "$ns"
in_ns ip link set lo up
in_ns ip tuntap add dev "$tap" mode tap
in_ns ip addr add "$kernel_ip/$prefix" dev "$tap"
in_ns ip link set "$tap" up

stack_args=(--tap "$tap" --ip "$stack_ip/$prefix")

# Waits until LOG says the receiver is listening, or its process has ended.
wait_listening() {
    local log=$1 pid=$2 i
    for ((i = 0; i < 100; i++)); do
        grep -q listening "$log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# An exit status in words.
describe() {
    if (($1 == 124)); then echo "timed out after $limit s"; else echo "exit $1"; fi
}

# run_direction NAME RECEIVER_CMD... -- SENDER_CMD...: the receiver writes $work/NAME.out, the
# sender reads $work/NAME.in. Prints one result line; returns non-zero on failure.
run_direction() {
    local name=$1
    shift
    local receiver=() sender=()
    while [[ $1 != -- ]]; do receiver+=("$1"); shift; done
    shift
    sender=("$@")
    local input="$work/$name.in" output="$work/$name.out"
    local rlog="$work/$name.recv.log" slog="$work/$name.send.log"
    head -c "$size" /dev/urandom >"$input"

    in_ns timeout "$limit" "${receiver[@]}" 2>"$rlog" &
    local rpid=$!
    pids+=("$rpid")
    local reason="" sstatus=0 rstatus=0 start end
    if ! wait_listening "$rlog" "$rpid"; then
        reason="receiver did not start"
        kill "$rpid" 2>/dev/null || true
    fi
    start=$(date +%s.%N)
    if [[ -z $reason ]]; then
        in_ns timeout "$limit" "${sender[@]}" 2>"$slog" || sstatus=$?
    fi
    wait "$rpid" || rstatus=$?
    end=$(date +%s.%N)
    if [[ -z $reason && $sstatus -ne 0 ]]; then
        reason="sender failed ($(describe "$sstatus"))"
    elif [[ -z $reason && $rstatus -ne 0 ]]; then
        reason="receiver failed ($(describe "$rstatus"))"
    fi
    if [[ -z $reason ]] && ! cmp -s "$input" "$output"; then
        reason="output differs from input"
    fi
    local seconds
    seconds=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
    if [[ -z $reason ]]; then
        say "PASS $name: $size bytes identical in ${seconds} s"
        sed 's/^/    /' "$slog" "$rlog"
        return 0
    fi
    say "FAIL $name: $reason"
    sed 's/^/    /' "$slog" "$rlog" 2>/dev/null || true
    return 1
}

failures=0
run_direction "smoltcp-tap-send-to-rudp-recv" \
    "$rudp" recv "$port" --bind "$kernel_ip" -o "$work/smoltcp-tap-send-to-rudp-recv.out" --wait 30s \
    -- "$stack" "${stack_args[@]}" send "$kernel_ip" "$port" "$work/smoltcp-tap-send-to-rudp-recv.in" ||
    failures=$((failures + 1))
run_direction "rudp-send-to-smoltcp-tap-recv" \
    "$stack" "${stack_args[@]}" recv "$port" "$work/rudp-send-to-smoltcp-tap-recv.out" --wait 30 \
    -- "$rudp" send "$stack_ip" "$port" "$work/rudp-send-to-smoltcp-tap-recv.in" ||
    failures=$((failures + 1))

if ((failures > 0)); then
    say "$failures of 2 directions failed"
    exit 1
fi
say "both directions passed"
