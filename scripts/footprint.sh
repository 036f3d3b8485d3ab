#!/usr/bin/env bash
# Footprint report: what the rudp-nostd engines cost a firmware, built for thumbv7em-none-eabihf
# at opt-level "s" with LTO (examples/link-check: both engines, the poll driver and a trivial
# loopback transport), minus the same firmware without the engines (feature `baseline`).
#
# Prints flash (.text + .rodata) and static RAM (.data + .bss) for both builds and their
# difference, and the engines' own RAM (size_of, which firmware places in a static or on the
# stack). Exits non-zero when a budget is exceeded: engines <= 8 KiB of flash, each engine
# <= 600 bytes of RAM.
set -euo pipefail
cd "$(dirname "$0")/.."

FLASH_BUDGET=8192
TARGET=thumbv7em-none-eabihf
HOST=$(rustc -vV | sed -n 's/^host: //p')
SIZE="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-size"
[ -x "$SIZE" ] || rustup component add llvm-tools >&2
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET" >&2

build() { # build <target-dir> [cargo args...]
    local dir=$1
    shift
    (cd examples/link-check && CARGO_TARGET_DIR="target/$dir" cargo build --quiet --release --target "$TARGET" "$@")
    echo "examples/link-check/target/$dir/$TARGET/release/rudp-link-check"
}

sections() { # flash and RAM of an ELF: "<flash> <ram>"
    "$SIZE" -A "$1" | awk '$1==".text"||$1==".rodata"{f+=$2} $1==".data"||$1==".bss"{r+=$2} END{print f+0, r+0}'
}

full=$(build full)
base=$(build baseline --features baseline)
read -r full_flash full_ram <<<"$(sections "$full")"
read -r base_flash base_ram <<<"$(sections "$base")"
engine_flash=$((full_flash - base_flash))
engine_ram=$((full_ram - base_ram))

sizes=$(cargo test --quiet -p rudp-nostd --lib size_tests -- --nocapture 2>/dev/null | grep '^size_of')
sender_ram=$(sed -n 's/^size_of Sender<&mut source, IPv4 endpoint> *= \([0-9]*\) bytes/\1/p' <<<"$sizes")
receiver_ram=$(sed -n 's/^size_of Receiver<&mut sink, IPv4 endpoint, 4> = \([0-9]*\) bytes/\1/p' <<<"$sizes")

printf '%-44s %8s %8s\n' "thumbv7em-none-eabihf, opt-level s, LTO" "flash" "RAM"
printf '%-44s %8d %8d\n' "firmware with both engines" "$full_flash" "$full_ram"
printf '%-44s %8d %8d\n' "same firmware without them (baseline)" "$base_flash" "$base_ram"
printf '%-44s %8d %8d\n' "engines + codec + driver (difference)" "$engine_flash" "$engine_ram"
printf '%-44s %8s %8d\n' "Sender (size_of, 524-byte frame buffer incl.)" "" "$sender_ram"
printf '%-44s %8s %8d\n' "Receiver (size_of, 4 half-open entries)" "" "$receiver_ram"

status=0
if [ "$engine_flash" -gt "$FLASH_BUDGET" ]; then
    echo "OVER BUDGET: engines take $engine_flash bytes of flash (budget $FLASH_BUDGET)" >&2
    status=1
fi
for pair in "Sender:$sender_ram" "Receiver:$receiver_ram"; do
    name=${pair%%:*}
    bytes=${pair#*:}
    if [ -z "$bytes" ] || [ "$bytes" -gt 600 ]; then
        echo "OVER BUDGET: $name takes ${bytes:-?} bytes of RAM (budget 600)" >&2
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "within budget: flash <= $FLASH_BUDGET bytes, each engine <= 600 bytes of RAM"
exit "$status"
