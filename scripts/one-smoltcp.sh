#!/usr/bin/env bash
# One smoltcp (issue 18): fails when a dependency graph of this repository holds two smoltcp
# versions, or another version than rudp-nostd's. Two smoltcps in one firmware cost flash and
# do not work together (rudp-nostd's transport takes the socket and `Interface` of its own
# smoltcp), and embassy-net brings the smoltcp it is built on. No graph is exempt: the last
# exception, the NUCLEO-F429ZI firmware on stm32-eth's smoltcp 0.12, went when it moved to
# embassy-stm32 + embassy-net.
#
# Each Cargo workspace here (the repository's, and each of examples/ and fuzz/ that has its
# own) is checked with every feature and every target: the smoltcp versions its build graph
# holds. Not `cargo tree -i smoltcp` and its "specification `smoltcp` is ambiguous": that
# looks at the lock file, which also lists an optional dependency that only a weak feature
# names (rudp-nostd's `defmt` has `smoltcp?/defmt`) where nothing enables it, so it reports
# two versions in a firmware that builds one.
set -euo pipefail
cd "$(dirname "$0")/.."

versions_in() { # versions_in <dir>: the smoltcp versions in that workspace's graph, one a line
    (cd "$1" && cargo tree --quiet --workspace --all-features --target all --prefix none --format '{p}') |
        awk '$1 == "smoltcp" { print $2 }' | sort -u
}

reference=$(versions_in .)
if [ "$(wc -l <<<"$reference")" -ne 1 ] || [ -z "$reference" ]; then
    echo "one-smoltcp: the workspace (rudp-nostd, --all-features) should hold one smoltcp, holds: ${reference:-none}" >&2
    cargo tree --workspace --all-features --target all --invert smoltcp >&2 || true
    exit 1
fi
echo "one-smoltcp: . (the workspace): smoltcp $reference"

failed=0
for manifest in $(git ls-files '*Cargo.toml'); do
    dir=$(dirname "$manifest")
    [ "$dir" != . ] && grep -q '^\[workspace\]' "$manifest" || continue
    found=$(versions_in "$dir")
    case "$(grep -c . <<<"$found")" in
        0) echo "one-smoltcp: $dir: no smoltcp" ;;
        1)
            if [ "$found" = "$reference" ]; then
                echo "one-smoltcp: $dir: smoltcp $found"
            else
                echo "one-smoltcp: $dir: smoltcp $found, but rudp-nostd's is $reference" >&2
                failed=1
            fi
            ;;
        *)
            echo "one-smoltcp: $dir: two smoltcps or more in one graph:" $found >&2
            for version in $found; do
                (cd "$dir" && cargo tree --quiet --workspace --all-features --target all \
                    --invert "smoltcp@${version#v}") >&2 || true
            done
            failed=1
            ;;
    esac
done
exit "$failed"
