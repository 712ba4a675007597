//! Key-range helpers shared by the backends.

/// The smallest key greater than every key that starts with `prefix`, or `None` when no
/// such key exists (the prefix is empty or all `0xFF`), in which case the range that
/// starts at `prefix` is unbounded above.
///
/// Backends use it to turn "keys starting with `prefix`" into a half-open range
/// `[prefix, successor)` for their native range delete or range scan.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Whether `key` is deleted by `delete_prefix(prefix, exclude)`: it starts with `prefix`
/// and does not start with `exclude`.
pub fn deleted_by_prefix(key: &[u8], prefix: &[u8], exclude: Option<&[u8]>) -> bool {
    key.starts_with(prefix) && !exclude.is_some_and(|excluded| key.starts_with(excluded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_increments_the_last_byte() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
    }

    #[test]
    fn successor_carries_over_trailing_ff_bytes() {
        assert_eq!(prefix_successor(&[1, 0xFF, 0xFF]), Some(vec![2]));
    }

    #[test]
    fn successor_of_empty_or_all_ff_is_unbounded() {
        assert_eq!(prefix_successor(b""), None);
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
    }

    #[test]
    fn exclude_carves_keys_out_of_the_prefix() {
        assert!(deleted_by_prefix(b"user/1", b"user/", None));
        assert!(!deleted_by_prefix(
            b"user/keep/1",
            b"user/",
            Some(b"user/keep/")
        ));
        assert!(deleted_by_prefix(b"user/1", b"user/", Some(b"user/keep/")));
        assert!(!deleted_by_prefix(b"other", b"user/", None));
        assert!(deleted_by_prefix(b"anything", b"", None));
    }
}
