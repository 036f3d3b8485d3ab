#!/usr/bin/env bash
# Footprint report: what the rudp-nostd engines cost a firmware, built for thumbv7em-none-eabihf
# at opt-level "s" with LTO from examples/link-check in three variants:
#   baseline  start-up code only
#   sans-io   + both engines and the codec, driven through their sans-IO API (the data
#             written into the sender's frame buffers, taken from the receiver's slots)
#   full      + the transport::poll driver and a trivial loopback transport
# and the sans-IO variant again with each digest feature, the sender offering it; and
#   listener  a sender into a Listener (M = 1, then M = 4; W = 1, H = 4) instead of the pair,
#             through their sans-IO API (handle_datagram, poll_transmit, handle_timeout, the
#             application reading each transfer through transfer_mut: readable/consume/committed)
# whose flash and size_of are reported (no budget yet); and the async driver over embassy-net
# (rudp-nostd's feature embassy-net), link-check's `embassy` binary in three variants:
#   embassy-base      an embassy executor, an embassy-net stack on a loopback MAC and a task
#                     making the socket and timer calls the driver makes, without rudp
#   embassy           + a sender's and a receiver's task, each one call of the driver
#   embassy-listener  + a listener's task (M = 1)
# whose flash is reported beside the blocking driver's (the driver's share: the difference to
# embassy-base, the engines' code proper aside; an estimate, since the endpoint there is
# embassy-net's IpEndpoint, not link-check's one-byte Node), and the futures' sizes: each task's
# future lives in the static pool the executor's task macro sizes, read off the symbol table
# (the pool less the executor's task header, an empty task's pool less its one-byte future);
# and
#   flash     a sender into a Listener (M = 1) whose admission and application is the flash
#             sink (rudp_nostd::flash::FlashSink, feature embedded-storage) over a NOR flash in
#             RAM (the example's driver, about 200 bytes, counts with it), without and with
#             SHA-256 (the digest over what is read back), against the listener variant built
#             the same way: the sink's flash, and its size_of (no budget yet);
#   boot      the same with SHA-256, the sink inside the embassy-boot adapter
#             (rudp_nostd::flash::BootSink, feature embassy-boot) with embassy-boot's
#             BlockingFirmwareState over a second NOR flash in RAM: the adapter's flash over
#             the SHA-256 flash sink (that second driver, about 200 bytes, counts with it), and
#             its size_of.
# Prints flash (.text + .rodata) and static RAM (.data + .bss) of each with llvm-size, the
# differences, the compiler's memcpy/memset routines inside the engines' share (every firmware
# that moves packets links them anyway), and the engines' own RAM (size_of: firmware places
# them in a static or on the stack, so they show in no section).
# Budgets, checked here (exit 1 when exceeded): the engines and codec, memory routines aside,
# at most 12 KiB of flash (issue 15 asked for 9 KiB; the sans-IO data path of 0.2, the
# application's write/read calls and the commit state, measured 9,914 B against 8,986 B
# before it, and SPEC §10.4's refusals in both engines 11,826 B against 9,914 B: the README
# says so); the sender at most 672 bytes of RAM, its frame buffer included (640 until SPEC
# §10.5's resume needed the resume point and the prefix still to hash: 664 B), and
# the receiver at most 400 besides its 514-byte payload slot (the budgets of issue 15: since
# the engines do no IO of the data, the stop-and-wait receiver keeps one frame until the
# application takes it; 8 KiB and 600 bytes each until the transfer-size and RTO back-off
# rules of SPEC §3.1 and §6 needed a little more state).
set -euo pipefail
cd "$(dirname "$0")/.."

FLASH_BUDGET=12288
SENDER_RAM_BUDGET=672
RECEIVER_RAM_BUDGET=400
TARGET=thumbv7em-none-eabihf
HOST=$(rustc -vV | sed -n 's/^host: //p')
BIN="$(rustc --print sysroot)/lib/rustlib/$HOST/bin"
[ -x "$BIN/llvm-size" ] || rustup component add llvm-tools >&2
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET" >&2

build() { # build <variant> [cargo args...]: prints the ELF's path
    build_bin "$1" rudp-link-check "${@:2}"
}

build_bin() { # build_bin <variant> <binary> [cargo args...]: prints the ELF's path
    local dir=$1 bin=$2
    shift 2
    (cd examples/link-check &&
        CARGO_TARGET_DIR="target/$dir" cargo build --quiet --release --target "$TARGET" --bin "$bin" "$@") || return
    echo "examples/link-check/target/$dir/$TARGET/release/$bin"
}

sections() { # flash and RAM of an ELF: "<flash> <ram>"
    "$BIN/llvm-size" -A "$1" | awk '$1==".text"||$1==".rodata"{f+=$2} $1==".data"||$1==".bss"{r+=$2} END{print f+0, r+0}'
}

mem_routines() { # bytes of compiler-builtins memcpy/memset/memclr/memmove in an ELF
    local total=0 size
    for size in $("$BIN/llvm-nm" --size-sort -S -C "$1" |
        awk '$4 ~ /^(__aeabi_mem|compiler_builtins::mem::|memcpy|memset|memmove|memclr)/ {print $2}'); do
        total=$((total + 16#$size))
    done
    echo "$total"
}

base=$(build baseline --features baseline)
engines=$(build sans-io --features sans-io)
full=$(build full)
with_crc=$(build sans-io-crc32c --features sans-io,crc32c)
with_sha=$(build sans-io-sha256 --features sans-io,sha256)
listener_1=$(build listener-m1 --features listener)
listener_4=$(build listener-m4 --features listener4)
listener_sha=$(build listener-m1-sha256 --features listener,sha256)
flash_sink=$(build flash-sink --features flash)
flash_sink_sha=$(build flash-sink-sha256 --features flash,sha256)
boot=$(build boot-sha256 --features boot)
read -r base_flash base_ram <<<"$(sections "$base")"
read -r eng_flash eng_ram <<<"$(sections "$engines")"
read -r full_flash full_ram <<<"$(sections "$full")"
read -r crc_flash _ <<<"$(sections "$with_crc")"
read -r sha_flash _ <<<"$(sections "$with_sha")"
engine_total=$((eng_flash - base_flash))
engine_mem=$(($(mem_routines "$engines") - $(mem_routines "$base")))
engine_code=$((engine_total - engine_mem))
driver=$((full_flash - eng_flash))
read -r l1_flash l1_ram <<<"$(sections "$listener_1")"
read -r l4_flash l4_ram <<<"$(sections "$listener_4")"
code_over_base() { # code_over_base <ELF> <flash>: flash over the baseline, memory routines aside
    echo $(($2 - base_flash - ($(mem_routines "$1") - $(mem_routines "$base"))))
}
l1_code=$(code_over_base "$listener_1" "$l1_flash")
l4_code=$(code_over_base "$listener_4" "$l4_flash")
read -r lsha_flash _ <<<"$(sections "$listener_sha")"
read -r fs_flash fs_ram <<<"$(sections "$flash_sink")"
read -r fsha_flash _ <<<"$(sections "$flash_sink_sha")"
fs_code=$(code_over_base "$flash_sink" "$fs_flash")
fsha_code=$(code_over_base "$flash_sink_sha" "$fsha_flash")
lsha_code=$(code_over_base "$listener_sha" "$lsha_flash")
read -r boot_flash boot_ram <<<"$(sections "$boot")"
boot_code=$(code_over_base "$boot" "$boot_flash")

pool() { # pool <ELF> <task>: bytes of the task's static pool (its future and the task header)
    local size
    size=$("$BIN/llvm-nm" -S -C "$1" | awk -v task="::$2::POOL::" 'index($4, task) {print $2; exit}')
    echo $((16#${size:-0}))
}

emb_base=$(build_bin embassy-base embassy --features embassy-base)
emb=$(build_bin embassy embassy --features embassy)
emb_listener=$(build_bin embassy-listener embassy --features embassy-listener)
read -r emb_base_flash emb_base_ram <<<"$(sections "$emb_base")"
read -r emb_flash emb_ram <<<"$(sections "$emb")"
read -r emb_l_flash emb_l_ram <<<"$(sections "$emb_listener")"
# What the send and receive tasks add over embassy-base, memory routines aside (embassy-net
# links them already), then less the engines' code proper: the async driver and the adapters.
emb_rudp=$((emb_flash - emb_base_flash - ($(mem_routines "$emb") - $(mem_routines "$emb_base"))))
emb_driver=$((emb_rudp - engine_code))
# The executor's task header: an empty task's pool less its one-byte future, padded to 4.
task_header=$(($(pool "$emb" empty_task) - 4))
send_future=$(($(pool "$emb" sender_task) - task_header))
receive_future=$(($(pool "$emb" receiver_task) - task_header))
listen_future=$(($(pool "$emb_listener" listener_task) - task_header))

sizes=$(cargo test --quiet -p rudp-nostd --features embedded-storage --lib size_tests -- --nocapture 2>/dev/null |
    grep -E '^(size_of|receiver state)')
sender_ram=$(sed -n 's/^size_of Sender<IPv4 endpoint> *= \([0-9]*\) bytes/\1/p' <<<"$sizes")
receiver_ram=$(sed -n 's/^size_of Receiver<IPv4 endpoint> (W = 1, H = 4) *= \([0-9]*\) bytes/\1/p' <<<"$sizes")
receiver_state=$(sed -n 's/^receiver state without its payload slot *= \([0-9]*\) bytes/\1/p' <<<"$sizes")
listener_1_ram=$(sed -n 's/^size_of Listener<IPv4 endpoint, M = 1> (W = 1, H = 4) *= \([0-9]*\) bytes/\1/p' <<<"$sizes")
listener_4_ram=$(sed -n 's/^size_of Listener<IPv4 endpoint, M = 4> (W = 1, H = 4) *= \([0-9]*\) bytes/\1/p' <<<"$sizes")
flash_sink_ram=$(sed -n 's/^size_of FlashSink<F, 512> (F zero-sized) *= \([0-9]*\) bytes/\1/p' <<<"$sizes")
# The adapter's size_of needs feature embassy-boot (which turns on sha256: not for the budgets).
boot_sink_ram=$(cargo test --quiet -p rudp-nostd --features embassy-boot --lib size_tests -- --nocapture 2>/dev/null |
    sed -n 's/^size_of BootSink<F, S, 512> (F, S zero-sized) *= \([0-9]*\) bytes/\1/p')

row() { printf '%-58s %8s %6s\n' "$@"; }
row "thumbv7em-none-eabihf, opt-level s, LTO" "flash" "RAM"
row "baseline firmware (start-up code)" "$base_flash" "$base_ram"
row "+ sender, receiver and codec (sans-IO)" "$eng_flash" "$eng_ram"
row "+ transport::poll driver and a loopback transport" "$full_flash" "$full_ram"
row "engines and codec: the difference" "$engine_total" "$((eng_ram - base_ram))"
row "  of which compiler memcpy/memset routines" "$engine_mem" ""
row "  engine code proper (budget $FLASH_BUDGET)" "$engine_code" ""
row "driver and loopback transport: the difference" "$driver" ""
row "digest crc32c (feature), sender offering it: + flash" "$((crc_flash - eng_flash))" ""
row "digest sha256 (feature), sender offering it: + flash" "$((sha_flash - eng_flash))" ""
row "Sender, size_of (its 524-byte frame buffer included)" "" "$sender_ram"
row "Receiver, size_of (its 512-byte payload slot, 4 half-open)" "" "$receiver_ram"
row "Receiver state without its payload slot" "" "$receiver_state"
row "+ sender and Listener M = 1 (sans-IO), instead of the pair" "$l1_flash" "$l1_ram"
row "+ sender and Listener M = 4 (sans-IO), instead of the pair" "$l4_flash" "$l4_ram"
row "  sender and listener code proper, M = 1 (no budget)" "$l1_code" ""
row "  sender and listener code proper, M = 4 (no budget)" "$l4_code" ""
row "  the listener over the receiver, M = 1: + flash" "$((l1_code - engine_code))" ""
row "Listener<IPv4 endpoint, M = 1> (W = 1, H = 4), size_of" "" "$listener_1_ram"
row "Listener<IPv4 endpoint, M = 4> (W = 1, H = 4), size_of" "" "$listener_4_ram"
row "embassy, no rudp: executor, embassy-net, a socket task" "$emb_base_flash" "$emb_base_ram"
row "+ send and receive tasks, one driver call each (W = 1)" "$emb_flash" "$emb_ram"
row "  rudp's part: the difference, memory routines aside" "$emb_rudp" ""
row "  async driver and adapters: less the engine code proper" "$emb_driver" ""
row "  (the blocking transport::poll driver, as above)" "$driver" ""
row "+ a listen task (Listener M = 1): + flash" "$((emb_l_flash - emb_flash))" ""
row "send future with its arguments (task pool less header)" "" "$send_future"
row "receive future with its arguments" "" "$receive_future"
row "listen future (M = 1) with its arguments" "" "$listen_future"
row "  the executor's header of each task" "" "$task_header"
row "+ sender, Listener M = 1 and the flash sink, instead" "$fs_flash" "$fs_ram"
row "  the flash sink over the listener, M = 1: + flash" "$((fs_code - l1_code))" ""
row "  the same with SHA-256 (digest read back): + flash" "$((fsha_code - lsha_code))" ""
row "FlashSink<F, 512>, size_of (its 512-byte buffer included)" "" "$flash_sink_ram"
row "+ the embassy-boot adapter (SHA-256 flash sink), instead" "$boot_flash" "$boot_ram"
row "  the adapter over the SHA-256 flash sink: + flash" "$((boot_code - fsha_code))" ""
row "BootSink<F, S, 512>, size_of (the sink included)" "" "$boot_sink_ram"

status=0
if [ "$engine_code" -gt "$FLASH_BUDGET" ]; then
    echo "OVER BUDGET: the engines take $engine_code bytes of flash (budget $FLASH_BUDGET)" >&2
    status=1
fi
for triple in "Sender:$sender_ram:$SENDER_RAM_BUDGET" "Receiver state:$receiver_state:$RECEIVER_RAM_BUDGET"; do
    IFS=: read -r name bytes budget <<<"$triple"
    if [ -z "$bytes" ] || [ "$bytes" -gt "$budget" ]; then
        echo "OVER BUDGET: $name takes ${bytes:-?} bytes of RAM (budget $budget)" >&2
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "within budget: engine code <= $FLASH_BUDGET bytes of flash, sender <= $SENDER_RAM_BUDGET and receiver state (its payload slot aside) <= $RECEIVER_RAM_BUDGET bytes of RAM"
exit "$status"
