//! The control packets: round trips with their golden lengths, and the RESET code on the wire.

use crate::rudp::packet::tests::{CONN, encode_fixed};
use crate::rudp::packet::{Packet, ResetReason, decode};

#[test]
fn control_packets_round_trip_with_golden_lengths() {
    let cases = [
        (Packet::Handshake { token: [9; 16] }, 30),
        (Packet::HandshakeAck, 14),
        (Packet::Fin { final_size: 77 }, 22),
        (Packet::FinAck, 14),
        (
            Packet::Reset {
                reason: ResetReason::DeadPeer,
            },
            16,
        ),
    ];
    for (p, len) in cases {
        let bytes = encode_fixed(&p);
        assert_eq!(bytes.len(), len, "{p:?}");
        assert_eq!(bytes[1], p.kind() as u8);
        assert_eq!(decode(&bytes).unwrap(), (CONN, p));
    }
    let reset = encode_fixed(&Packet::Reset {
        reason: ResetReason::IoError,
    });
    assert_eq!(&reset[14..16], &[0, 2]);
}
