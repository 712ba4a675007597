//! How the applied index is stored: 8 bytes little-endian under one meta key.

/// The meta key that holds the raft applied index.
pub const APPLIED_INDEX_KEY: &[u8] = b"_meta_applied_index";

/// Encodes an applied index as stored: 8 bytes, little-endian.
pub fn encode_applied_index(index: u64) -> [u8; 8] {
    index.to_le_bytes()
}

/// Decodes a stored applied index.
///
/// A missing value is `None`. A value that is not exactly 8 bytes is also `None`, with a
/// warning: a damaged index must never abort a cold start, and "unknown" makes every
/// caller take the safe path (apply everything, restore the snapshot).
pub fn decode_applied_index(stored: Option<&[u8]>) -> Option<u64> {
    let bytes = stored?;
    match <[u8; 8]>::try_from(bytes) {
        Ok(array) => Some(u64::from_le_bytes(array)),
        Err(_) => {
            tracing::warn!(
                len = bytes.len(),
                "applied index meta value is not 8 bytes; treating it as missing"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_little_endian_bytes() {
        let index = 0xDEAD_BEEF_CAFE_F00D;
        let encoded = encode_applied_index(index);
        assert_eq!(encoded, [0x0D, 0xF0, 0xFE, 0xCA, 0xEF, 0xBE, 0xAD, 0xDE]);
        assert_eq!(decode_applied_index(Some(&encoded)), Some(index));
    }

    #[test]
    fn missing_or_wrong_length_reads_as_none() {
        assert_eq!(decode_applied_index(None), None);
        assert_eq!(decode_applied_index(Some(&[1, 2])), None);
        assert_eq!(decode_applied_index(Some(&[0; 9])), None);
        assert_eq!(decode_applied_index(Some(&[])), None);
    }
}
