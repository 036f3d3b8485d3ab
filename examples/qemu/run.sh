#!/usr/bin/env bash
# The rudp firmware on two emulated Cortex-M boards, against the host CLI, through QEMU's user
# network: for each board, 1 MiB host `rudp send` -> firmware `recv`, and 1 MiB firmware
# `send` -> host `rudp recv`, each checked by the CRC-32C the firmware prints against the host's
# own; then both again through `rudp relay` dropping 5% of the datagrams each way. Then, on
# mps2-an386, `recv-flash` (an image into an emulated NOR flash that survives a reset): a 3 MiB
# image refused at once (too large), 1 MiB through 5% loss committed with the host's CRC-32C,
# and the same again with the firmware resetting itself every 300,000 durable bytes while
# `rudp send --retries` resumes it each time (the relay follows each try's new source port).
#
# Needs qemu-system-arm, python3 and the thumbv7m-none-eabi and thumbv7em-none-eabihf targets.
# Every QEMU and host process runs under `timeout`; any failure prints the logs and exits 1.
#
# Environment: RUDP_QEMU_TIMEOUT (seconds per transfer, default 120), RUDP_QEMU_SEED (the
# relay's seed, default 1), RUDP_QEMU_SIZE (bytes per transfer, default 1048576).
set -euo pipefail
cd "$(dirname "$0")"

ROOT=$(cd ../.. && pwd)
RUDP=$ROOT/target/release/rudp
TIMEOUT=${RUDP_QEMU_TIMEOUT:-120}
SEED=${RUDP_QEMU_SEED:-1}
SIZE=${RUDP_QEMU_SIZE:-1048576}
LOSS=5%
# The host tools' idle timeout: SPEC's 10 s default is short for an emulator on a busy machine
# (the firmware uses 30 s too).
IDLE=30s
# (binary, target, QEMU machine, NIC model)
BOARDS=(
    "rudp-fw-lm3s6965evb thumbv7m-none-eabi lm3s6965evb stellaris"
    "rudp-fw-mps2-an386 thumbv7em-none-eabihf mps2-an386 lan9118"
)

step() { printf '\n==> %s\n' "$*"; }
die() {
    printf '\nFAIL: %s\n' "$*" >&2
    exit 1
}

command -v qemu-system-arm >/dev/null || die "qemu-system-arm not found (apt-get install -y --no-install-recommends qemu-system-arm)"
command -v python3 >/dev/null || die "python3 not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rudp-qemu.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Host-side helpers: CRC-32C (Castagnoli, reflected, poly 0x82F63B78, init and xorout
# 0xFFFFFFFF), the firmware's test pattern, test data, free ports.
cat >"$WORK/tool.py" <<'EOF'
import random, socket, sys

TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    TABLE.append(c)

def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF

assert crc32c(b"123456789") == 0xE3069283

cmd = sys.argv[1]
if cmd == "crc":        # crc FILE: "<size> <crc32c>"
    data = open(sys.argv[2], "rb").read()
    print(len(data), "%08x" % crc32c(data))
elif cmd == "pattern":  # pattern N: the firmware's `send` data, byte[i] = (i * 31 + 7) % 251
    n = int(sys.argv[2])
    sys.stdout.buffer.write(bytes((i * 31 + 7) % 251 for i in range(n)))
elif cmd == "random":   # random N SEED: reproducible binary test data
    sys.stdout.buffer.write(random.Random(int(sys.argv[3])).randbytes(int(sys.argv[2])))
elif cmd == "port":     # port: a free UDP port on 127.0.0.1
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
tool() { python3 "$WORK/tool.py" "$@"; }

# wait_for FILE TEXT PID: until FILE contains TEXT (or PID died, or 10 s passed).
wait_for() {
    local i
    for i in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# show LOG...: print logs after a failure.
show() {
    local f
    for f in "$@"; do
        [ -s "$f" ] && { printf -- '--- %s\n' "$(basename "$f")"; cat "$f"; }
    done
    return 0
}

# qemu_cmd BIN TARGET MACHINE MODEL HOSTFWD_PORT ARGS...: sets QEMU to the command line, under
# `timeout`. The firmware's arguments go through semihosting, the program name first.
qemu_cmd() {
    local bin=$1 target=$2 machine=$3 model=$4 port=$5
    shift 5
    local args=",arg=$bin" a
    for a in "$@"; do args+=",arg=$a"; done
    QEMU=(timeout --kill-after=5 "$TIMEOUT" qemu-system-arm -machine "$machine"
        -kernel "target/$target/release/$bin"
        -netdev "user,id=n0,hostfwd=udp:127.0.0.1:$port-10.0.2.15:5555"
        -net "nic,netdev=n0,model=$model"
        -display none -serial null -monitor none
        -semihosting-config "enable=on,target=native$args")
}

# start_relay LOG TO_PORT [OPTION...]: a lossy relay in front of 127.0.0.1:TO_PORT; sets
# RELAY_PORT and RELAY_PID.
start_relay() {
    local log=$1 to=$2
    shift 2
    RELAY_PORT=$(tool port)
    timeout --kill-after=5 "$TIMEOUT" "$RUDP" relay --listen "127.0.0.1:$RELAY_PORT" --to "127.0.0.1:$to" \
        --loss "$LOSS" --seed "$SEED" "$@" </dev/null >/dev/null 2>"$log" &
    RELAY_PID=$!
    PIDS+=("$RELAY_PID")
    wait_for "$log" "listening on" "$RELAY_PID" || { show "$log"; die "the relay did not start"; }
}

# stop_relay: ends the relay (it runs until signalled); it prints its counters as it goes.
stop_relay() {
    kill -INT "$RELAY_PID" 2>/dev/null || true
    wait "$RELAY_PID" 2>/dev/null || true
}

# timed_out RC WHAT: fails if `timeout` ended a run (124: TERM, 137: KILL 5 s later); every
# QEMU and host process of a transfer has the same limit, so all of them are killed by then.
timed_out() {
    case $1 in
        124 | 137) show "$WORK"/*.log; die "$2: timed out after ${TIMEOUT}s; QEMU and the host tools were killed" ;;
    esac
}

# seconds START END: END - START, two decimals.
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# check_fw LOG VERB SIZE CRC WHAT: the firmware's line matches the host's digest.
check_fw() {
    local log=$1 verb=$2 size=$3 crc=$4 what=$5 line
    line=$(grep "^rudp-fw: $verb " "$log" || true)
    [ "$line" = "rudp-fw: $verb $size bytes crc32c $crc" ] ||
        { show "$WORK"/*.log; die "$what: the firmware printed '${line:-nothing}', the host has $size bytes crc32c $crc"; }
}

# report WHAT START END FWLOG HOSTLOG [RELAYLOG]: one line per transfer, and adds the run's
# wall time and firmware uptime to the board's totals (see check_clock).
report() {
    local what=$1 start=$2 end=$3 fwlog=$4 hostlog=$5 relaylog=${6:-} uptime
    printf '  ok  %-60s %6s s\n' "$what" "$(seconds "$start" "$end")"
    sed -n 's/^rudp: \(sent\|received\) /      host:     \1 /p' "$hostlog"
    sed -n 's/^rudp-fw: \(.*firmware clock.*\)/      firmware: \1/p' "$fwlog"
    [ -z "$relaylog" ] || sed -n 's/^rudp relay: \(.*->.*\)/      relay:    \1/p' "$relaylog"
    uptime=$(sed -n 's/^rudp-fw: uptime \([0-9]*\) ms$/\1/p' "$fwlog")
    [ -n "$uptime" ] || die "$what: the firmware printed no uptime"
    WALL_TOTAL=$(awk -v t="$WALL_TOTAL" -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", t + e - s }')
    UPTIME_TOTAL=$((UPTIME_TOTAL + uptime))
}

# check_clock WHAT: the firmware's millisecond clock (SysTick at the core clock the binary
# assumes) against the host's, over all of a board's QEMU runs: they must agree within a
# factor of 4/3 (QEMU's start-up counts against the firmware; a wrong core clock is off by 2x
# or more).
check_clock() {
    awk -v fw="$UPTIME_TOTAL" -v wall="$WALL_TOTAL" -v what="$1" 'BEGIN {
        ratio = fw / 1000 / wall
        printf "  clock: firmware %.2f s over %.2f s of QEMU runs (%.2f)\n", fw / 1000, wall, ratio
        exit !(ratio > 0.75 && ratio < 1.33)
    }' || die "$1: the firmware clock disagrees with the host's: check its core clock"
}

# host_to_fw BIN TARGET MACHINE MODEL LOSSY: host `rudp send` -> firmware `recv`.
host_to_fw() {
    local bin=$1 target=$2 machine=$3 model=$4 lossy=$5
    local what="$machine: host send -> firmware recv${lossy:+, relay $LOSS loss}"
    local fwlog=$WORK/firmware.log hostlog=$WORK/host.log relaylog=
    rm -f "$WORK"/*.log
    local port dest qpid rc=0 start end
    port=$(tool port)
    dest=$port
    qemu_cmd "$bin" "$target" "$machine" "$model" "$port" recv
    start=$(date +%s.%N)
    "${QEMU[@]}" </dev/null >"$fwlog" 2>"$WORK/qemu.log" &
    qpid=$!
    PIDS+=("$qpid")
    wait_for "$fwlog" "waiting on UDP port" "$qpid" || { show "$WORK"/*.log; die "$what: the firmware did not start"; }
    if [ -n "$lossy" ]; then
        relaylog=$WORK/relay.log
        start_relay "$relaylog" "$port"
        dest=$RELAY_PORT
    fi
    timeout --kill-after=5 "$TIMEOUT" "$RUDP" send 127.0.0.1 "$dest" "$WORK/input.bin" --idle-timeout "$IDLE" \
        </dev/null 2>"$hostlog" || rc=$?
    timed_out "$rc" "$what"
    [ "$rc" = 0 ] || { show "$WORK"/*.log; die "$what: host rudp send exited $rc"; }
    wait "$qpid" || rc=$?
    end=$(date +%s.%N)
    [ -z "$lossy" ] || stop_relay
    timed_out "$rc" "$what"
    [ "$rc" = 0 ] || { show "$WORK"/*.log; die "$what: the firmware exited $rc"; }
    check_fw "$fwlog" received "$INPUT_SIZE" "$INPUT_CRC" "$what"
    report "$what" "$start" "$end" "$fwlog" "$hostlog" "$relaylog"
}

# fw_to_host BIN TARGET MACHINE MODEL LOSSY: firmware `send` -> host `rudp recv`.
fw_to_host() {
    local bin=$1 target=$2 machine=$3 model=$4 lossy=$5
    local what="$machine: firmware send -> host recv${lossy:+, relay $LOSS loss}"
    local fwlog=$WORK/firmware.log hostlog=$WORK/host.log relaylog=
    rm -f "$WORK"/*.log "$WORK/output.bin"
    local port dest rpid rc=0 start end got
    port=$(tool port)
    dest=$port
    timeout --kill-after=5 "$TIMEOUT" "$RUDP" recv "$port" --bind 127.0.0.1 -o "$WORK/output.bin" \
        --idle-timeout "$IDLE" </dev/null 2>"$hostlog" &
    rpid=$!
    PIDS+=("$rpid")
    wait_for "$hostlog" "listening on" "$rpid" || { show "$WORK"/*.log; die "$what: host rudp recv did not start"; }
    if [ -n "$lossy" ]; then
        relaylog=$WORK/relay.log
        start_relay "$relaylog" "$port"
        dest=$RELAY_PORT
    fi
    qemu_cmd "$bin" "$target" "$machine" "$model" "$(tool port)" send "$SIZE" "$dest"
    start=$(date +%s.%N)
    "${QEMU[@]}" </dev/null >"$fwlog" 2>"$WORK/qemu.log" || rc=$?
    end=$(date +%s.%N)
    timed_out "$rc" "$what"
    [ "$rc" = 0 ] || { show "$WORK"/*.log; die "$what: the firmware exited $rc"; }
    wait "$rpid" || rc=$?
    timed_out "$rc" "$what"
    [ "$rc" = 0 ] || { show "$WORK"/*.log; die "$what: host rudp recv exited $rc"; }
    [ -z "$lossy" ] || stop_relay
    got=$(tool crc "$WORK/output.bin")
    [ "$got" = "$PATTERN_SIZE $PATTERN_CRC" ] ||
        { show "$WORK"/*.log; die "$what: the host received $got, the pattern is $PATTERN_SIZE $PATTERN_CRC"; }
    check_fw "$fwlog" sent "$PATTERN_SIZE" "$PATTERN_CRC" "$what"
    report "$what" "$start" "$end" "$fwlog" "$hostlog" "$relaylog"
}

step "build: host CLI and both firmwares"
(cd "$ROOT" && cargo build --quiet --release -p rudp-host-tools </dev/null) || die "building the host CLI (rudp-host-tools)"
for board in "${BOARDS[@]}"; do
    read -r bin target _ _ <<<"$board"
    if ! cargo build --quiet --release --target "$target" --bin "$bin" </dev/null 2>"$WORK/build.log"; then
        # Seen on this machine: cargo's cached target probe (target/.rustc_info.json) holding a
        # failure that is not rustc's; drop the cache and try once more.
        grep -q "target-specific information" "$WORK/build.log" || { cat "$WORK/build.log"; die "building $bin"; }
        rm -f target/.rustc_info.json
        cargo build --quiet --release --target "$target" --bin "$bin" </dev/null || die "building $bin"
    fi
done

step "test data: $SIZE bytes each way"
tool random "$SIZE" "$SEED" >"$WORK/input.bin"
read -r INPUT_SIZE INPUT_CRC <<<"$(tool crc "$WORK/input.bin")"
tool pattern "$SIZE" >"$WORK/pattern.bin"
read -r PATTERN_SIZE PATTERN_CRC <<<"$(tool crc "$WORK/pattern.bin")"
echo "host -> firmware: random data, crc32c $INPUT_CRC; firmware -> host: the pattern, crc32c $PATTERN_CRC"

for board in "${BOARDS[@]}"; do
    read -r bin target machine model <<<"$board"
    step "$machine ($target, $model NIC)"
    board_start=$(date +%s.%N)
    WALL_TOTAL=0
    UPTIME_TOTAL=0
    host_to_fw "$bin" "$target" "$machine" "$model" ""
    fw_to_host "$bin" "$target" "$machine" "$model" ""
    host_to_fw "$bin" "$target" "$machine" "$model" lossy
    fw_to_host "$bin" "$target" "$machine" "$model" lossy
    check_clock "$machine"
    printf '  %s: four transfers in %s s\n' "$machine" "$(seconds "$board_start" "$(date +%s.%N)")"
done

# flash_run WHAT RESET_AFTER: mps2-an386 `recv-flash [reset-after RESET_AFTER]`; without
# RESET_AFTER a 3 MiB image is first sent straight to it and must be refused (too large) within
# a second; then the 1 MiB input goes through the lossy relay, which with RESET_AFTER follows
# each try of `rudp send --retries` (a new source port) as it resumes after each reset. The firmware's committed line (the CRC-32C read back from its flash) must match the host's.
flash_run() {
    local what=$1 reset_after=$2
    local fwlog=$WORK/firmware.log hostlog=$WORK/host.log relaylog=$WORK/relay.log
    rm -f "$WORK"/*.log
    local port qpid rc=0 start end resets resumed
    port=$(tool port)
    if [ -n "$reset_after" ]; then
        qemu_cmd rudp-fw-mps2-an386 thumbv7em-none-eabihf mps2-an386 lan9118 "$port" recv-flash reset-after "$reset_after"
    else
        qemu_cmd rudp-fw-mps2-an386 thumbv7em-none-eabihf mps2-an386 lan9118 "$port" recv-flash
    fi
    start=$(date +%s.%N)
    "${QEMU[@]}" </dev/null >"$fwlog" 2>"$WORK/qemu.log" &
    qpid=$!
    PIDS+=("$qpid")
    wait_for "$fwlog" "waiting on UDP port" "$qpid" || { show "$WORK"/*.log; die "$what: the firmware did not start"; }
    if [ -z "$reset_after" ]; then
        local t0 t1 big=$WORK/big.bin biglog=$WORK/host-big.log
        tool random $((3 << 20)) "$SEED" >"$big"
        t0=$(date +%s.%N)
        timeout --kill-after=5 "$TIMEOUT" "$RUDP" send 127.0.0.1 "$port" "$big" --idle-timeout "$IDLE" \
            </dev/null 2>"$biglog" || rc=$?
        t1=$(date +%s.%N)
        timed_out "$rc" "$what"
        [ "$rc" = 1 ] && grep -q "too large" "$biglog" ||
            { show "$WORK"/*.log; die "$what: a 3 MiB image: host rudp send exited $rc, not 1 with 'too large'"; }
        awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 1) }' ||
            { show "$WORK"/*.log; die "$what: the 3 MiB image was refused after $(seconds "$t0" "$t1") s, not within 1 s"; }
        printf '  ok  %-60s %6s s\n' "mps2-an386: recv-flash refuses 3 MiB: $(sed -n 's/^rudp: error: //p' "$biglog")" "$(seconds "$t0" "$t1")"
        rc=0
    fi
    # Each try of `rudp send` has a source port of its own: the relay follows it. A reset is
    # noticed by the host's idle timeout (3 s); `--retries` then waits 1 s, 2 s, 4 s...
    local idle=$IDLE
    if [ -n "$reset_after" ]; then
        idle=3s
        start_relay "$relaylog" "$port" --follow-client
    else
        start_relay "$relaylog" "$port"
    fi
    timeout --kill-after=5 "$TIMEOUT" "$RUDP" send 127.0.0.1 "$RELAY_PORT" "$WORK/input.bin" \
        --idle-timeout "$idle" --retries 8 </dev/null 2>"$hostlog" || rc=$?
    timed_out "$rc" "$what"
    [ "$rc" = 0 ] || { show "$WORK"/*.log; die "$what: host rudp send exited $rc"; }
    wait "$qpid" || rc=$?
    end=$(date +%s.%N)
    stop_relay
    timed_out "$rc" "$what"
    [ "$rc" = 0 ] || { show "$WORK"/*.log; die "$what: the firmware exited $rc"; }
    check_fw "$fwlog" committed "$INPUT_SIZE" "$INPUT_CRC" "$what"
    resets=$(grep -c "resetting$" "$fwlog" || true)
    resumed=$(sed -n 's/^rudp-fw: resumed from \([0-9]*\)$/\1/p' "$fwlog" | paste -sd, -)
    if [ -n "$reset_after" ]; then
        [ "$resets" -ge 2 ] || { show "$WORK"/*.log; die "$what: the firmware reset $resets times, expected several"; }
        [ "$(grep -c "^rudp-fw: resumable " "$fwlog")" = "$resets" ] &&
            [ "$(grep -c "^rudp-fw: resumed from " "$fwlog")" = "$resets" ] ||
            { show "$WORK"/*.log; die "$what: not every reset was resumed from its record"; }
    fi
    printf '  ok  %-60s %6s s\n' "$what" "$(seconds "$start" "$end")"
    sed -n 's/^rudp: \(sent\) /      host:     \1 /p' "$hostlog"
    sed -n 's/^rudp-fw: \(committed .*\)/      firmware: \1/p' "$fwlog"
    [ -z "$reset_after" ] || echo "      firmware: $resets resets, resumed from $resumed bytes"
    sed -n 's/^rudp relay: \(.*->.*\)/      relay:    \1/p' "$relaylog"
}

step "mps2-an386: recv-flash, an image into an emulated NOR flash that survives a reset"
flash_start=$(date +%s.%N)
flash_run "mps2-an386: host send -> firmware recv-flash, relay $LOSS loss" ""
flash_run "mps2-an386: host send -> recv-flash reset-after 300000, relay $LOSS loss" 300000
printf '  mps2-an386: recv-flash in %s s\n' "$(seconds "$flash_start" "$(date +%s.%N)")"

step "ok: both boards, both directions, with and without loss (relay seed $SEED); recv-flash with resets"
