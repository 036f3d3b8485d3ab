#!/usr/bin/env bash
# Interop: rudp over a firmware network stack on a TAP device (STACK: smoltcp-tap, rudp over
# smoltcp; embassy-tap, rudp over embassy-net) against rudp over the kernel's UDP (the `rudp`
# CLI), both ways, byte for byte, with a window and a digest; then once through `rudp relay`
# losing 5% of the datagrams each way.
#
#   bash examples/tap-interop.sh smoltcp-tap      (examples/smoltcp-tap/interop.sh runs this)
#   bash examples/tap-interop.sh embassy-tap      (examples/embassy-tap/interop.sh runs this)
#
# Everything happens inside a network namespace of this script's own, with a TAP device in
# it: the kernel side has 192.168.69.1 on the TAP, STACK attaches to the TAP as 192.168.69.2
# (its own ARP, IPv4 and UDP). No address outside the namespace is ever used.
#
#   (a) STACK send  ->  rudp recv --bind 192.168.69.1
#   (b) rudp send   ->  STACK recv
#   (c) STACK send  ->  rudp relay --loss 5%  ->  rudp recv --bind 192.168.69.1
#
# Each transfer must report, on the CLI's side, the window STACK grants or uses and, for
# embassy-tap, the content verified with a digest (see `window` and `digest` below); (c) must
# show the relay dropping datagrams.
#
# Needs root, /dev/net/tun and iproute2 (installed if missing). Builds what it needs (debug
# profile) from the repository root. Exit status: 0 if all three pass.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

stack_name=${1:-}
case "$stack_name" in
smoltcp-tap | embassy-tap) ;;
*)
    printf 'usage: %s smoltcp-tap|embassy-tap\n' "$0" >&2
    exit 2
    ;;
esac

ns="rudp-$stack_name-test-$$"
tap=tap0
kernel_ip=192.168.69.1
stack_ip=192.168.69.2
prefix=24
port=9000
relay_port=9001
size=$((300 * 1024))
# What the CLI's side must report: smoltcp-tap is the stop-and-wait, digest-free firmware
# (window 1, no digest checked); embassy-tap offers CRC-32C and grants a window of 32, and `rudp
# send FILE` offers SHA-256.
case "$stack_name" in
smoltcp-tap) window=1 digest="" ;;
embassy-tap) window=32 digest="CRC-32C|SHA-256" ;;
esac
# Each process is killed after this many seconds; a transfer takes well under one (a few
# seconds through the relay at worst).
limit=60

say() { printf 'tap-interop.sh: %s\n' "$*"; }
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

say "building rudp and $stack_name"
(cd "$root" && cargo build --quiet -p rudp-host-tools -p "$stack_name")
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
rudp="$bin/rudp"
stack="$bin/$stack_name"
[[ -x $rudp && -x $stack ]] || die "binaries not found in $bin"

in_ns() { ip netns exec "$ns" "$@"; }

say "namespace $ns: $tap with $kernel_ip/$prefix (kernel) and $stack_ip/$prefix ($stack_name)"
ip netns add "$ns"
in_ns ip link set lo up
in_ns ip tuntap add dev "$tap" mode tap
in_ns ip addr add "$kernel_ip/$prefix" dev "$tap"
in_ns ip link set "$tap" up

stack_args=(--tap "$tap" --ip "$stack_ip/$prefix")

# Waits until LOG has a line matching WORD, or its process has ended.
wait_for() {
    local log=$1 pid=$2 word=$3 i
    for ((i = 0; i < 100; i++)); do
        grep -q "$word" "$log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# An exit status in words.
describe() {
    if (($1 == 124)); then echo "timed out after $limit s"; else echo "exit $1"; fi
}

# run_direction NAME CLI_LOG RECEIVER_CMD... -- SENDER_CMD...: the receiver writes
# $work/NAME.out, the sender reads $work/NAME.in; CLI_LOG (send or recv) is the side whose
# summary must show the window and the digest. Prints one result line; returns non-zero on
# failure.
run_direction() {
    local name=$1 cli_side=$2
    shift 2
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
    if ! wait_for "$rlog" "$rpid" listening; then
        reason="receiver did not start"
        kill "$rpid" 2>/dev/null || true
    fi
    start=$(date +%s.%N)
    if [[ -z $reason ]]; then
        in_ns timeout "$limit" "${sender[@]}" 2>"$slog" || sstatus=$?
    fi
    wait "$rpid" || rstatus=$?
    end=$(date +%s.%N)
    local cli_log="$work/$name.$cli_side.log"
    if [[ -z $reason && $sstatus -ne 0 ]]; then
        reason="sender failed ($(describe "$sstatus"))"
    elif [[ -z $reason && $rstatus -ne 0 ]]; then
        reason="receiver failed ($(describe "$rstatus"))"
    elif [[ -z $reason ]] && ! cmp -s "$input" "$output"; then
        reason="output differs from input"
    elif [[ -z $reason ]] && ! grep -q "window $window granted" "$cli_log"; then
        reason="rudp $cli_side did not report a window of $window"
    elif [[ -z $reason && -n $digest ]] && ! grep -Eq "verified with ($digest)" "$cli_log"; then
        reason="rudp $cli_side did not report the content verified with a digest"
    fi
    local seconds
    seconds=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
    if [[ -z $reason ]]; then
        local verified="no digest"
        [[ -z $digest ]] || verified=$(grep -Eo "verified with ($digest)" "$cli_log" | head -1)
        say "PASS $name: $size bytes identical in ${seconds} s, window $window, $verified"
        sed 's/^/    /' "$slog" "$rlog"
        return 0
    fi
    say "FAIL $name: $reason"
    sed 's/^/    /' "$slog" "$rlog" 2>/dev/null || true
    return 1
}

failures=0
run_direction "$stack_name-send-to-rudp-recv" recv \
    "$rudp" recv "$port" --bind "$kernel_ip" -o "$work/$stack_name-send-to-rudp-recv.out" --wait 30s \
    -- "$stack" "${stack_args[@]}" send "$kernel_ip" "$port" "$work/$stack_name-send-to-rudp-recv.in" ||
    failures=$((failures + 1))
run_direction "rudp-send-to-$stack_name-recv" send \
    "$stack" "${stack_args[@]}" recv "$port" "$work/rudp-send-to-$stack_name-recv.out" --wait 30 \
    -- "$rudp" send "$stack_ip" "$port" "$work/rudp-send-to-$stack_name-recv.in" ||
    failures=$((failures + 1))

# (c): the relay is the sender's peer; it forwards to rudp recv and drops 5% each way.
name=$stack_name-send-via-relay-to-rudp-recv
relay_log="$work/relay.log"
# Not through the in_ns function: `ip netns exec` then `timeout` exec in place, so that $! is
# the process to signal (a backgrounded function would be a subshell that passes nothing on).
ip netns exec "$ns" timeout "$limit" "$rudp" relay --listen "$kernel_ip:$relay_port" --to "$kernel_ip:$port" \
    --loss 5% --seed 7 >/dev/null 2>"$relay_log" &
relay=$!
pids+=("$relay")
if ! wait_for "$relay_log" "$relay" "listening on"; then
    say "FAIL $name: the relay did not start"
    sed 's/^/    /' "$relay_log" || true
    failures=$((failures + 1))
else
    run_direction "$name" recv \
        "$rudp" recv "$port" --bind "$kernel_ip" -o "$work/$name.out" --wait 30s \
        -- "$stack" "${stack_args[@]}" send "$kernel_ip" "$relay_port" "$work/$name.in" ||
        failures=$((failures + 1))
    # SIGTERM (through `timeout`, which passes it on): the relay prints its counters and exits.
    # Not SIGINT: a background job of a script starts with SIGINT ignored.
    kill -TERM "$relay" 2>/dev/null || true
    wait "$relay" 2>/dev/null || true
    sed 's/^/    /' "$relay_log"
    dropped=$(sed -n 's/.* \([0-9]*\) dropped,.*/\1/p' "$relay_log" | awk '{ n += $1 } END { print n + 0 }')
    if ((dropped == 0)); then
        say "FAIL $name: the relay dropped nothing"
        failures=$((failures + 1))
    else
        say "the relay dropped $dropped datagrams"
    fi
fi

if ((failures > 0)); then
    say "$failures failures"
    exit 1
fi
say "all three passed"
