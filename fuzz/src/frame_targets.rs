//! The frame targets: `decode_frame` checks the decoder against SPEC §1's (written out in
//! [`spec`]), `frame_roundtrip` checks the emitter's layout and the roundtrip.

use rudp_nostd::wire::{self, Flags, Frame, Packet, Repr};
use rudp_nostd::{DropReason, Trace};

use super::input::Cursor;
use super::spec::{self, header_fields, raw_frame, seq_of, spec_decode, spec_fields};

/// Any bytes: `wire::decode` gives exactly what SPEC §1 says (the same frame, or the same
/// error variant with the same value, checked in the SPEC's order), never reads past the
/// slice (it would panic), and a frame that decodes re-emits to exactly the same bytes. The
/// `Packet` view agrees, and the trace line of a drop is SPEC §8's.
pub fn decode_frame(data: &[u8]) {
    assert_eq!(
        (rudp_nostd::HEADER_LEN, rudp_nostd::MAX_PAYLOAD, rudp_nostd::MAX_FRAME, rudp_nostd::MAX_SEQ),
        (spec::HEADER_LEN, spec::MAX_PAYLOAD, spec::MAX_FRAME, spec::MAX_SEQ),
        "the crate's constants are not SPEC §1's"
    );
    let expected = spec_decode(data);
    let decoded = wire::decode(data);
    assert_eq!(decoded.map(|f| f.repr), expected, "decode disagrees with SPEC §1 on {data:02x?}");

    match Packet::new_checked(data) {
        Ok(packet) => {
            assert!((spec::HEADER_LEN..=spec::MAX_FRAME).contains(&data.len()));
            let (seq, ack, conn, flags) = header_fields(data);
            assert_eq!(
                (packet.seq(), packet.ack(), packet.conn(), packet.flags().bits()),
                (seq, ack, conn, flags)
            );
            assert_eq!(packet.payload(), &data[spec::HEADER_LEN..]);
        }
        Err(error) => assert_eq!(Err(error), expected, "the view rejects other than the length"),
    }

    let line = Trace::drop_datagram(data, DropReason::Malformed).to_string();
    match decoded {
        Ok(frame) => {
            assert_eq!(frame.payload, &data[spec::HEADER_LEN..]);
            let mut buf = [0u8; spec::MAX_FRAME];
            let len = frame.repr.emit_with_payload(&mut buf, frame.payload).expect("a decoded payload fits");
            assert_eq!(&buf[..len], data, "a decoded frame re-emits to other bytes");
            let (seq, ack, conn, flags) = header_fields(data);
            assert_eq!(line, format!("DROP {}", spec_fields(seq, ack, conn, flags)));
        }
        Err(error) => assert_eq!(line, format!("DROP {error}")),
    }
}

/// An arbitrary valid header (seq and ack below MAX_SEQ, flags in 0..8 without SYN with FIN)
/// and payload (the rest of the input, at most 512 bytes): it emits to SPEC §1's layout and
/// decodes to itself; `emit_with_payload` refuses a longer payload; the trace line is SPEC
/// §8's.
///
/// Input: seq (u32, reduced), ack (u32, reduced), conn (u16), flags (u8, low 3 bits; SYN|FIN
/// loses FIN), then the payload.
pub fn frame_roundtrip(data: &[u8]) {
    let mut input = Cursor::new(data);
    let seq = input.u32() % spec::MAX_SEQ;
    let ack = input.u32() % spec::MAX_SEQ;
    let conn = input.u16();
    let mut flags = u16::from(input.u8()) & spec::DEFINED;
    if flags & (spec::SYN | spec::FIN) == spec::SYN | spec::FIN {
        flags &= !spec::FIN;
    }
    let repr = Repr { seq: seq_of(seq), ack: seq_of(ack), conn, flags: Flags::from_bits(flags) };
    let rest = input.rest();
    // Junk in the buffer, so that a byte the emitter forgets shows.
    let mut buf = [0xa5u8; spec::MAX_FRAME];
    if rest.len() > spec::MAX_PAYLOAD {
        assert_eq!(repr.emit_with_payload(&mut buf, rest), None, "a payload over 512 bytes was emitted");
    }
    let payload = &rest[..rest.len().min(spec::MAX_PAYLOAD)];

    let len = repr.emit_with_payload(&mut buf, payload).expect("a payload of at most 512 bytes fits");
    assert_eq!(&buf[..len], &raw_frame(seq, ack, conn, flags, payload)[..], "not SPEC §1's layout");
    let mut header = [0u8; spec::HEADER_LEN];
    repr.emit_header(&mut header);
    assert_eq!(header[..], buf[..spec::HEADER_LEN]);

    let Frame { repr: decoded, payload: decoded_payload } =
        wire::decode(&buf[..len]).expect("an emitted valid header decodes");
    assert_eq!(decoded, repr);
    assert_eq!(decoded_payload, payload);

    let fields = spec_fields(seq, ack, conn, flags);
    assert_eq!(repr.to_string(), fields);
    assert_eq!(Trace::send(repr, true).to_string(), format!("SEND {fields} DUP"));
    assert_eq!(Trace::recv(repr, false).to_string(), format!("RECV {fields}"));
}
