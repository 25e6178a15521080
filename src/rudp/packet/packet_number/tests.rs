//! Packet-number expansion across the 32-bit wrap and at the ends of the u64 range.

use super::expand_pn;

#[test]
fn packet_numbers_expand_across_the_32_bit_wrap() {
    assert_eq!(expand_pn(0, 0), 0);
    assert_eq!(expand_pn(10, 5), 5);
    assert_eq!(expand_pn((1 << 32) + 3, 0xFFFF_FFF0), 0xFFFF_FFF0);
    assert_eq!(expand_pn(0xFFFF_FFF0, 3), (1 << 32) + 3);
    assert_eq!(expand_pn(u64::MAX - 5, 0xFFFF_FFFF), u64::MAX);
    assert_eq!(expand_pn(u64::MAX, 0), !0xFFFF_FFFFu64);
}
