# Helpers shared by bench/run.sh and bench/io.sh (sourced; they set RUDP and WORK first).

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

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
    "$RUDP" send 127.0.0.1 "$port" "$file" -q --busy-poll "$busy_poll" "$@"
    t1=$(now)
    wait "$rx"
    cmp -s "$file" "$WORK/out.bin" || { echo "rudp output differs" >&2; exit 1; }
    awk -v b="$(stat -c %s "$file")" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.2f\n", b / (t1 - t0) / 1e6}'
}
