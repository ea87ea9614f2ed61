//! Little-endian fields of binary containers (ZIP headers, compound-file headers, Word's file
//! information block), read from a byte slice: `None` past its end, never a panic.
//!
//! A leaf: uses nothing of ours.

/// The little-endian `u16` at `at` in `bytes`.
pub(super) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    bytes
        .get(at..at.checked_add(2)?)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
}

/// The little-endian `u32` at `at` in `bytes`.
pub(super) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at.checked_add(4)?)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_little_endian_and_none_past_the_end() {
        let b = [0x34, 0x12, 0x78, 0x56];
        assert_eq!(u16_at(&b, 0), Some(0x1234));
        assert_eq!(u32_at(&b, 0), Some(0x5678_1234));
        assert_eq!(u16_at(&b, 3), None);
        assert_eq!(u32_at(&b, 1), None);
        assert_eq!(u32_at(&b, usize::MAX), None);
    }
}
