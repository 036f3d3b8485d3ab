#!/usr/bin/env python3
"""A stand-in for the ORIGINAL Python tools that the rudp protocol comes from.

We do not have the original ``client.py`` / ``server.py``; this test double behaves as
SPEC.md §7 describes them, and is strict wherever they are strict, so that the
``reference`` profile of ``rudp`` can be tested against it:

    python3 reference_peer.py server PORT        > FILE   (the original server.py)
    python3 reference_peer.py client HOST PORT   < FILE   (the original client.py)

What it does, SPEC §7 line by line (the header is little-endian seq, ack, conn, flags):

- Padding. The client sends EVERY frame (SYN, data, FIN, its final ACK|FIN frames) padded
  with zero bytes to exactly 524 bytes. The server unpacks only datagrams of exactly 524
  bytes and drops every other one unread.
- Reply size. The client accepts only replies of exactly 12 bytes; it drops longer or
  shorter ones unread.
- ISN. The client's ISN is 42: SYN seq 42, ack 0, conn 0, 512 zero bytes (SPEC §9). The
  server ignores the SYN's seq and assumes 42: its SYN|ACK carries ack 43 (seq 4321,
  conn 1), and it expects the first data at seq 43.
- Data. The client's third frame (seq 43, the first data, sent even when empty) carries
  ACK with ack 0; its later data frames carry flags 0 and ack 0. It fills each block with
  512 bytes unless its input has ended. The server checks only conn and the flags (and that
  seq is the next one expected, or the previous frame's, which it acknowledges again as a
  DUP); it never looks at the ack field.
- Zero stripping. The server strips trailing zero bytes from each payload, writes what is
  left, and acknowledges seq + stripped length (ACK, seq 4322).
- The FIN's answer. The client sends FIN alone (seq END, ack RISN+1), padded. The
  server answers a FIN with TWO 12-byte frames: ACK|FIN whose ack is NOT END+1 (it is END,
  the FIN's own seq, unless --fin-answer-ack says otherwise), then a lone FIN with the same
  numbers. It answers a repeated FIN the same way.
- The close. Once its FIN is answered (any 12-byte frame with the right conn, FIN set, SYN
  clear), the client sends its final frame, ACK|FIN (seq END+1, ack RISN+2), padded, and
  for about 2 s answers every 12-byte frame from the server with that frame again; then it
  exits. The server, after its FIN answer, takes any 524-byte frame with ACK and the right
  conn as the final ACK and exits; without one it exits after about 2 s.
- The crash. The server crashes (here: exits 3) on a FIN that carries the ACK flag.
- Timers. The client retransmits its outstanding frame on a fixed 0.5 s timer (no
  back-off, no RTT estimate) and gives up after 10 s without an accepted reply.

Options (either mode):
    -v              trace every frame on stderr in the SPEC §8 format:
                    SEND|RECV <seq> <ack> <conn> [ACK] [SYN] [FIN] [DUP], DROP <seq> <ack>
                    <conn> [ACK] [SYN] [FIN], or DROP <reason> for a datagram not unpacked
    --loss P        drop this fraction of the datagrams received (to exercise retransmissions)
    --seed N        seed of the loss generator (default 1)
    --max-time S    safety net: exit 5 after S seconds whatever happens (default: none)
Server only:
    --fin-answer-ack N   the ack of both frames that answer a FIN (default: END, the FIN's
                    seq); any value but END+1 is faithful to SPEC §7

Other lines on stderr start with "reference_peer client:" or "reference_peer server:".

Exit codes: 0 success; 1 the client gave up (10 s without an expected reply); 2 usage;
3 the server got a FIN carrying the ACK flag (the original server crashes on that, SPEC §5);
5 --max-time reached.

Python 3.11 standard library only. Binds and sends on 127.0.0.1 only.
"""

import argparse
import random
import select
import socket
import struct
import sys
import time

HEADER = struct.Struct("<IIHH")  # seq, ack, conn, flags (the originals: native 'iihh')
HEADER_LEN = HEADER.size  # 12
MAX_PAYLOAD = 512
FRAME_LEN = HEADER_LEN + MAX_PAYLOAD  # 524
MAX_SEQ = 204800

FIN = 1
SYN = 2
ACK = 4

CLIENT_ISN = 42  # the original sender's fixed ISN
SERVER_RISN = 4321  # the original receiver's ISN (any value would do)
SERVER_CONN = 1  # the connection id the original receiver hands out (never 0)

RTO = 0.5  # the original sender's fixed retransmission timeout
GIVE_UP = 10.0  # the original sender gives up after this long without a reply
LINGER = 2.0  # both originals wait about 2 s at the close

LOCALHOST = "127.0.0.1"


def flag_names(flags):
    names = []
    if flags & ACK:
        names.append("ACK")
    if flags & SYN:
        names.append("SYN")
    if flags & FIN:
        names.append("FIN")
    return names


def pack(seq, ack, conn, flags, payload=b"", pad=False):
    frame = HEADER.pack(seq % MAX_SEQ, ack % MAX_SEQ, conn, flags) + payload
    if pad:
        frame = frame.ljust(FRAME_LEN, b"\0")
    return frame


class Peer:
    def __init__(self, role, args):
        self.role = role
        self.verbose = args.verbose
        self.loss = args.loss
        self.rng = random.Random(args.seed)
        self.deadline = None if args.max_time is None else time.monotonic() + args.max_time
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def log(self, message):
        print(f"reference_peer {self.role}: {message}", file=sys.stderr, flush=True)

    def trace(self, kind, seq, ack, conn, flags, dup=False):
        if self.verbose:
            words = [kind, str(seq), str(ack), str(conn)] + flag_names(flags)
            if dup:
                words.append("DUP")
            print(" ".join(words), file=sys.stderr, flush=True)

    def send(self, frame, to, dup=False):
        seq, ack, conn, flags = HEADER.unpack_from(frame)
        self.trace("SEND", seq, ack, conn, flags, dup)
        try:
            self.sock.sendto(frame, to)
        except OSError as e:  # e.g. ICMP port unreachable reported on a later send
            self.log(f"send failed: {e}")

    def recv(self, timeout):
        """Waits up to `timeout` seconds for a datagram; returns (data, addr) or None.

        Datagrams picked by --loss are dropped here, as if the network had lost them."""
        end = time.monotonic() + max(timeout, 0.0)
        while True:
            now = time.monotonic()
            if self.deadline is not None and now >= self.deadline:
                self.log("--max-time reached, exiting")
                sys.exit(5)
            left = end - now
            if self.deadline is not None:
                left = min(left, self.deadline - now)
            if left <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                continue
            try:
                data, addr = self.sock.recvfrom(65536)
            except OSError as e:  # ICMP errors from an earlier send surface here on Linux
                self.log(f"receive error: {e}")
                continue
            if self.loss > 0 and self.rng.random() < self.loss:
                self.drop(data, f"simulated loss of a {len(data)}-byte datagram")
                continue
            return data, addr

    def drop(self, data, reason, unpacked=True):
        """Traces an ignored datagram (SPEC §8): `DROP <seq> <ack> <conn> [flags]` when its
        header was unpacked, `DROP <reason>` when it was not (wrong size)."""
        if self.verbose:
            if unpacked and len(data) >= HEADER_LEN:
                self.trace("DROP", *HEADER.unpack_from(data))
            else:
                print(f"DROP {reason}", file=sys.stderr, flush=True)
        self.log(f"ignored: {reason}")


# ---------------------------------------------------------------------------------------
# The original sender (client.py): cat FILE | python3 client.py HOST PORT
# ---------------------------------------------------------------------------------------


def read_block(stream):
    """Reads up to 512 bytes, filling the block unless the input ends."""
    block = b""
    while len(block) < MAX_PAYLOAD:
        chunk = stream.read(MAX_PAYLOAD - len(block))
        if not chunk:
            break
        block += chunk
    return block


def run_client(args):
    peer = Peer("client", args)
    sock = peer.sock
    sock.bind((LOCALHOST, 0))
    server = (args.host, args.port)
    stdin = sys.stdin.buffer
    last_reply = time.monotonic()

    def exchange(frame, accept):
        """Stop-and-wait: sends `frame` (padded, as every frame of the original sender),
        retransmits it every RTO until `accept(seq, ack, conn, flags)` holds for a reply of
        exactly 12 bytes. Returns that reply's header."""
        nonlocal last_reply
        frame = frame.ljust(FRAME_LEN, b"\0")
        peer.send(frame, server)
        sent_at = time.monotonic()
        while True:
            now = time.monotonic()
            if now - last_reply >= GIVE_UP:
                peer.log(f"no reply for {GIVE_UP:.0f} s, giving up")
                sys.exit(1)
            wait = min(sent_at + RTO, last_reply + GIVE_UP) - now
            got = peer.recv(wait)
            if got is None:
                now = time.monotonic()
                if now >= sent_at + RTO and now - last_reply < GIVE_UP:
                    peer.send(frame, server, dup=True)
                    sent_at = now
                continue
            data, addr = got
            if addr != server:
                peer.drop(data, f"datagram from {addr}, not from {server}")
                continue
            if len(data) != HEADER_LEN:
                # The original sender accepts only replies of exactly 12 bytes.
                peer.drop(data, f"reply of {len(data)} bytes (only 12-byte replies are accepted)", False)
                continue
            header = HEADER.unpack(data)
            if accept(*header):
                peer.trace("RECV", *header)
                last_reply = time.monotonic()
                return header
            peer.drop(data, "unexpected reply")

    # Handshake: SYN seq 42, ack 0, conn 0, padded with zeros to 524 bytes (SPEC §9).
    isn = CLIENT_ISN
    syn_ack = exchange(
        pack(isn, 0, 0, SYN),
        lambda seq, ack, conn, flags: flags == SYN | ACK and ack == (isn + 1) % MAX_SEQ and conn != 0,
    )
    risn, _, conn, _ = syn_ack

    # Data, stop-and-wait. The third frame (seq 43) carries ACK with ack 0 (NOT RISN+1:
    # SPEC §7) and the first block, even an empty one; later data frames carry flags 0 and
    # ack 0.
    seq = (isn + 1) % MAX_SEQ
    first = True
    total = 0
    while True:
        block = read_block(stdin)
        if not block and not first:
            break
        if first:
            frame = pack(seq, 0, conn, ACK, block)
        else:
            frame = pack(seq, 0, conn, 0, block)
        expected = (seq + len(block)) % MAX_SEQ
        exchange(
            frame,
            lambda s, a, c, f, expected=expected: c == conn and f == ACK and a == expected,
        )
        seq = expected
        total += len(block)
        first = False
        if len(block) < MAX_PAYLOAD:
            break

    # Close: FIN alone, seq END, ack RISN+1. The receiver's answer is whatever frame with
    # the FIN flag (the original server: ACK|FIN then FIN; rudp: FIN|ACK) comes back.
    end = seq
    exchange(pack(end, risn + 1, conn, FIN), lambda s, a, c, f: c == conn and f & FIN and not f & SYN)
    final = pack(end + 1, risn + 2, conn, ACK | FIN, pad=True)
    peer.send(final, server)
    # For about 2 s, answer every frame the receiver sends with ACK|FIN.
    linger_end = time.monotonic() + LINGER
    while True:
        got = peer.recv(linger_end - time.monotonic())
        if got is None:
            break
        data, addr = got
        if addr != server:
            peer.drop(data, f"datagram from {addr}, not from {server}")
            continue
        if len(data) != HEADER_LEN:
            peer.drop(data, f"reply of {len(data)} bytes (only 12-byte replies are accepted)", False)
            continue
        peer.trace("RECV", *HEADER.unpack(data))
        peer.send(final, server, dup=True)
    peer.log(f"sent {total} bytes")
    return 0


# ---------------------------------------------------------------------------------------
# The original receiver (server.py): python3 server.py PORT > FILE
# ---------------------------------------------------------------------------------------


def run_server(args):
    peer = Peer("server", args)
    sock = peer.sock
    sock.bind((LOCALHOST, args.port))
    peer.log(f"listening on {LOCALHOST}:{args.port}")
    out = sys.stdout.buffer
    risn = SERVER_RISN
    conn = SERVER_CONN
    client = None  # the address that opened the connection
    expected = (CLIENT_ISN + 1) % MAX_SEQ  # it assumes the sender's ISN is 42
    prev_seq = None  # seq of the last data frame written
    prev_ack = None  # the ack sent for it
    total = 0

    def reply(seq, ack, flags, dup=False):
        # Replies are bare 12-byte headers.
        peer.send(pack(seq, ack, conn, flags), client, dup)

    def answer_fin(end, dup=False):
        # The original receiver answers a FIN with TWO frames. The first, ACK|FIN, does NOT
        # acknowledge END+1 (SPEC §7: "ACK|FIN whose ack is not END+1"): it carries ack = END,
        # the FIN's own seq, or --fin-answer-ack. The second is a lone FIN.
        ack = end if args.fin_answer_ack is None else args.fin_answer_ack
        reply(risn + 1, ack, ACK | FIN, dup)
        reply(risn + 1, ack, FIN, dup)

    # LISTEN and ESTABLISHED: until the FIN.
    while True:
        data, addr = peer.recv(3600.0) or (None, None)
        if data is None:
            continue
        if len(data) != FRAME_LEN:
            # The original receiver unpacks only datagrams of exactly 524 bytes.
            peer.drop(data, f"datagram of {len(data)} bytes (only 524-byte frames are unpacked)", False)
            continue
        seq, ack, fconn, flags = HEADER.unpack_from(data)
        payload = data[HEADER_LEN:]
        if flags & SYN and not flags & (ACK | FIN):
            if client is not None and (addr != client or prev_seq is not None):
                peer.drop(data, "SYN after the connection was set up")
                continue
            # It ignores the SYN's seq: the sender's ISN is assumed to be 42.
            dup = client is not None
            peer.trace("RECV", seq, ack, fconn, flags, dup)
            client = addr
            reply(risn, (CLIENT_ISN + 1) % MAX_SEQ, SYN | ACK, dup)
            continue
        if client is None or addr != client:
            peer.drop(data, "frame before a SYN or from another address")
            continue
        if fconn != conn:
            peer.drop(data, f"wrong connection id {fconn}")
            continue
        if flags & FIN:
            if flags & ACK:
                # The original server crashes here (SPEC §5): a sender's FIN must carry FIN alone.
                peer.trace("RECV", seq, ack, fconn, flags)
                peer.log(f"CRASH: the sender's FIN carries the ACK flag (flags {flags}): FIN|ACK")
                out.flush()
                sys.exit(3)
            if flags & SYN or seq != expected:
                peer.drop(data, f"FIN with seq {seq}, expected {expected}")
                continue
            peer.trace("RECV", seq, ack, fconn, flags)
            end = seq
            break
        if flags & SYN:
            peer.drop(data, "unexpected flags")
            continue
        # A data frame, with or without ACK. Its payload ends at the last non-zero byte.
        body = payload.rstrip(b"\0")
        if seq == expected:
            peer.trace("RECV", seq, ack, fconn, flags)
            out.write(body)
            total += len(body)
            prev_seq = seq
            prev_ack = (seq + len(body)) % MAX_SEQ
            expected = prev_ack
            reply(risn + 1, prev_ack, ACK)
        elif seq == prev_seq:
            # A retransmission (our ACK was lost): acknowledge again, do not write again.
            peer.trace("RECV", seq, ack, fconn, flags, dup=True)
            reply(risn + 1, prev_ack, ACK, dup=True)
        else:
            peer.drop(data, f"data with seq {seq}, expected {expected}")

    out.flush()
    answer_fin(end)
    # Wait up to ~2 s for the sender's final ACK (any ACK frame: the original sender's is ACK|FIN).
    deadline = time.monotonic() + LINGER
    while True:
        got = peer.recv(deadline - time.monotonic())
        if got is None:
            peer.log("no final ACK from the sender within 2 s; closing anyway")
            break
        data, addr = got
        if len(data) != FRAME_LEN:
            peer.drop(data, f"datagram of {len(data)} bytes (only 524-byte frames are unpacked)", False)
            continue
        if addr != client:
            peer.drop(data, f"frame from {addr}, not from the sender")
            continue
        seq, ack, fconn, flags = HEADER.unpack_from(data)
        if fconn != conn:
            peer.drop(data, f"wrong connection id {fconn}")
            continue
        if flags & ACK:
            peer.trace("RECV", seq, ack, fconn, flags)
            peer.log("final ACK received")
            break
        if flags & FIN and seq == end:
            # The FIN again: our answer was lost.
            peer.trace("RECV", seq, ack, fconn, flags, dup=True)
            answer_fin(end, dup=True)
            deadline = time.monotonic() + LINGER
            continue
        peer.drop(data, "frame after the FIN that is not an ACK")
    peer.log(f"received {total} bytes")
    return 0


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    for name in ("server", "client"):
        p = sub.add_parser(name)
        if name == "client":
            p.add_argument("host")
        p.add_argument("port", type=int)
        p.add_argument("-v", "--verbose", action="store_true")
        p.add_argument("--loss", type=float, default=0.0)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--max-time", type=float, default=None)
        if name == "server":
            p.add_argument("--fin-answer-ack", type=int, default=None)
    args = parser.parse_args(argv)
    if not 0.0 <= args.loss < 1.0:
        parser.error("--loss must be in [0, 1)")
    if args.mode == "server" and args.fin_answer_ack is not None:
        if not 0 <= args.fin_answer_ack < MAX_SEQ:
            parser.error("--fin-answer-ack must be in [0, MAX_SEQ)")
    if args.mode == "client":
        if args.host not in (LOCALHOST, "localhost"):
            parser.error("this test double talks to 127.0.0.1 only")
        args.host = LOCALHOST
        return run_client(args)
    return run_server(args)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
