//! The deep check: every entry of a store read back through one read view and checked.
//!
//! The open of a store trusts what a clean shutdown left (that is what makes a cold
//! start cheap), so damage in a page or block that the open does not read goes unseen
//! until something reads it. [`Engine::verify_deep`](crate::Engine::verify_deep) is the
//! explicit, whole-store check: the engine's own checker first
//! ([`RawEngine::check_engine`](crate::RawEngine::check_engine)), then [`check_view`]
//! over every entry of both namespaces.

use std::ops::ControlFlow;

use crate::applied_index::APPLIED_INDEX_KEY;
use crate::batch::{MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::error::{Error, Result};
use crate::range::{Direction, KeyRange};
use crate::raw::ReadView;
use crate::snapshot::Namespace;

/// What a deep check read: the store as it stood at the check's read view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeepCheck {
    /// Data entries read.
    pub data_entries: u64,
    /// Meta entries read (the applied index among them, when stored).
    pub meta_entries: u64,
    /// The applied index the view holds; `None` when none is stored.
    pub applied_index: Option<u64>,
}

/// Walks every entry of both namespaces of `view` and checks what the store's contract
/// says of them: keys 1 to [`MAX_KEY_LEN`] bytes in strictly ascending byte order,
/// values at most [`MAX_VALUE_LEN`] bytes, and the applied index, when stored, 8 bytes
/// encoding an index above 0 that a point read of the same view returns too.
///
/// The first violation is [`Error::Corruption`] naming the namespace and the key; an
/// error of the engine while reading is returned as the engine reported it.
pub fn check_view(view: &dyn ReadView) -> Result<DeepCheck> {
    let data_entries = check_namespace(view, Namespace::Data, &mut |_, _| Ok(()))?;
    let mut walked_index = None;
    let meta_entries = check_namespace(view, Namespace::Meta, &mut |name, value| {
        if name == APPLIED_INDEX_KEY {
            walked_index = Some(decode_strictly(value)?);
        }
        Ok(())
    })?;
    let read_index = view
        .get(Namespace::Meta, APPLIED_INDEX_KEY)?
        .map(|value| decode_strictly(&value))
        .transpose()?;
    if read_index != walked_index {
        return Err(Error::Corruption(format!(
            "a point read of the applied index gives {read_index:?}, the walk of the meta namespace {walked_index:?}"
        )));
    }
    Ok(DeepCheck {
        data_entries,
        meta_entries,
        applied_index: walked_index,
    })
}

/// What [`check_namespace`] hands each entry to.
type EntryInspector<'a> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'a;

/// Walks `namespace` forwards, checks each entry's shape and order, hands it to
/// `inspect`, and returns how many there were.
fn check_namespace(
    view: &dyn ReadView,
    namespace: Namespace,
    inspect: &mut EntryInspector<'_>,
) -> Result<u64> {
    let mut count = 0u64;
    let mut previous: Option<Vec<u8>> = None;
    view.scan(
        namespace,
        &KeyRange::full(),
        Direction::Forward,
        &mut |key, value| {
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                return Err(damaged(
                    namespace,
                    key,
                    &format!("a key of {} bytes", key.len()),
                ));
            }
            if value.len() > MAX_VALUE_LEN {
                return Err(damaged(
                    namespace,
                    key,
                    &format!("a value of {} bytes", value.len()),
                ));
            }
            if previous.as_deref().is_some_and(|before| before >= key) {
                return Err(damaged(namespace, key, "a key out of order"));
            }
            inspect(key, value)?;
            count += 1;
            match &mut previous {
                Some(before) => {
                    before.clear();
                    before.extend_from_slice(key);
                }
                None => previous = Some(key.to_vec()),
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    Ok(count)
}

/// The applied index as the deep check reads it: where the store's reads treat a bad
/// encoding as "no index" (a cold start must go on), the deep check reports it.
fn decode_strictly(value: &[u8]) -> Result<u64> {
    match <[u8; 8]>::try_from(value) {
        Ok(bytes) if u64::from_le_bytes(bytes) > 0 => Ok(u64::from_le_bytes(bytes)),
        Ok(_) => Err(Error::Corruption(
            "the applied index is 0, which no apply can store".to_owned(),
        )),
        Err(_) => Err(Error::Corruption(format!(
            "the applied index is {} bytes long, not 8",
            value.len()
        ))),
    }
}

fn damaged(namespace: Namespace, key: &[u8], what: &str) -> Error {
    const SHOWN: usize = 32;
    let shown: String = key
        .iter()
        .take(SHOWN)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let more = if key.len() > SHOWN { "…" } else { "" };
    let namespace = match namespace {
        Namespace::Data => "data",
        Namespace::Meta => "meta",
    };
    Error::Corruption(format!(
        "the {namespace} namespace holds {what} (key {shown}{more})"
    ))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::applied_index::encode_applied_index;
    use crate::range::ScanVisitor;

    /// A view over two fixed lists of entries, handed out in list order (which a test
    /// may make wrong).
    struct ListView {
        data: Vec<(Vec<u8>, Vec<u8>)>,
        meta: Vec<(Vec<u8>, Vec<u8>)>,
    }

    impl ListView {
        fn entries(&self, namespace: Namespace) -> &[(Vec<u8>, Vec<u8>)] {
            match namespace {
                Namespace::Data => &self.data,
                Namespace::Meta => &self.meta,
            }
        }
    }

    impl ReadView for ListView {
        fn get(&self, namespace: Namespace, key: &[u8]) -> Result<Option<Bytes>> {
            Ok(self
                .entries(namespace)
                .iter()
                .find(|(stored, _)| stored == key)
                .map(|(_, value)| Bytes::copy_from_slice(value)))
        }

        fn scan(
            &self,
            namespace: Namespace,
            _range: &KeyRange,
            _direction: Direction,
            visit: &mut ScanVisitor<'_>,
        ) -> Result<()> {
            for (key, value) in self.entries(namespace) {
                if visit(key, value)?.is_break() {
                    break;
                }
            }
            Ok(())
        }
    }

    fn entry(key: &[u8], value: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (key.to_vec(), value.to_vec())
    }

    fn healthy() -> ListView {
        ListView {
            data: vec![entry(b"a", b"1"), entry(b"b", b""), entry(b"c", b"3")],
            meta: vec![
                entry(APPLIED_INDEX_KEY, &encode_applied_index(42)),
                entry(b"schema", b"v2"),
            ],
        }
    }

    fn corruption(view: &ListView) -> String {
        match check_view(view) {
            Err(Error::Corruption(message)) => message,
            other => panic!("expected a corruption error, got {other:?}"),
        }
    }

    #[test]
    fn a_healthy_view_is_counted_with_its_applied_index() {
        assert_eq!(
            check_view(&healthy()).ok(),
            Some(DeepCheck {
                data_entries: 3,
                meta_entries: 2,
                applied_index: Some(42),
            })
        );
    }

    #[test]
    fn keys_out_of_order_or_repeated_are_corruption() {
        let mut view = healthy();
        view.data.swap(0, 1);
        assert!(corruption(&view).contains("out of order"));

        let mut view = healthy();
        view.data[1].0 = b"a".to_vec();
        assert!(corruption(&view).contains("out of order"));
    }

    #[test]
    fn an_empty_or_over_long_key_is_corruption() {
        let mut view = healthy();
        view.data.insert(0, entry(b"", b"x"));
        assert!(corruption(&view).contains("a key of 0 bytes"));

        let mut view = healthy();
        view.meta.push(entry(&[0xFF; MAX_KEY_LEN + 1], b"x"));
        assert!(corruption(&view).contains("a key of 512 bytes"));
    }

    #[test]
    fn a_badly_encoded_applied_index_is_corruption() {
        let mut view = healthy();
        view.meta[0].1 = vec![1, 2, 3];
        assert!(corruption(&view).contains("3 bytes long"));

        let mut view = healthy();
        view.meta[0].1 = encode_applied_index(0).to_vec();
        assert!(corruption(&view).contains("is 0"));
    }

    #[test]
    fn a_store_without_an_applied_index_passes() {
        let mut view = healthy();
        view.meta.remove(0);
        assert_eq!(
            check_view(&view).ok().map(|check| check.applied_index),
            Some(None)
        );
    }

    #[test]
    fn a_point_read_that_disagrees_with_the_walk_is_corruption() {
        /// Walks like `healthy()` but answers point reads of the index with another one.
        struct Disagreeing(ListView);
        impl ReadView for Disagreeing {
            fn get(&self, namespace: Namespace, key: &[u8]) -> Result<Option<Bytes>> {
                match namespace {
                    Namespace::Meta if key == APPLIED_INDEX_KEY => {
                        Ok(Some(Bytes::copy_from_slice(&encode_applied_index(7))))
                    }
                    _ => self.0.get(namespace, key),
                }
            }
            fn scan(
                &self,
                namespace: Namespace,
                range: &KeyRange,
                direction: Direction,
                visit: &mut ScanVisitor<'_>,
            ) -> Result<()> {
                self.0.scan(namespace, range, direction, visit)
            }
        }
        match check_view(&Disagreeing(healthy())) {
            Err(Error::Corruption(message)) => assert!(message.contains("point read"), "{message}"),
            other => panic!("expected a corruption error, got {other:?}"),
        }
    }
}
