//! The portable snapshot stream: one engine-neutral format for every engine.
//!
//! ```text
//! header   magic "FSMSNAP\0" (8 bytes)
//!          format version          u32 LE   (1)
//!          reserved                u32 LE   (0)
//!          applied index           u64 LE   (0: the snapshot has none)
//!          data records            u64 LE
//!          meta records            u64 LE
//! records  namespace               u8       (1 data, 2 meta)
//!          key length              u32 LE   (1 ..= MAX_KEY_LEN)
//!          value length            u32 LE
//!          key, value
//! footer   CRC32C of every byte above, u32 LE
//! ```
//!
//! Data records come first, then meta records, each in strictly ascending key order.
//! The applied index in the header is the one the meta records hold (the decoder checks
//! that they agree), so a reader can learn it from the first 40 bytes.
//!
//! Nothing here buffers a whole stream: [`SnapshotWriter`] writes records as it is given
//! them and [`SnapshotReader`] hands them out one at a time, reading a value only as far
//! as the stream really goes (a corrupt length cannot make it allocate gigabytes).

use std::io::{self, Read, Write};

use crate::applied_index::{APPLIED_INDEX_KEY, decode_applied_index};
use crate::batch::MAX_KEY_LEN;
use crate::error::{Error, Result};

/// The first 8 bytes of every snapshot stream.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"FSMSNAP\0";

/// The snapshot format version this build writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

const HEADER_LEN: usize = 40;
const DATA: u8 = 1;
const META: u8 = 2;

/// Which namespace a record (or a read view's entry) belongs to.
///
/// Ordered as streams are: data before meta.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Namespace {
    /// The data namespace: what `get` and `scan_prefix` read.
    Data,
    /// The meta namespace: the applied index and other meta keys.
    Meta,
}

/// What a snapshot stream's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The stream's format version.
    pub format_version: u32,
    /// The applied index at the snapshot point; `None` when the store had none (or a
    /// damaged one).
    pub applied_index: Option<u64>,
    /// How many data records follow.
    pub data_records: u64,
    /// How many meta records follow them.
    pub meta_records: u64,
}

impl SnapshotHeader {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0; HEADER_LEN];
        bytes[..8].copy_from_slice(&SNAPSHOT_MAGIC);
        bytes[8..12].copy_from_slice(&self.format_version.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.applied_index.unwrap_or(0).to_le_bytes());
        bytes[24..32].copy_from_slice(&self.data_records.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.meta_records.to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self> {
        if bytes[..8] != SNAPSHOT_MAGIC {
            return Err(invalid("not an fsmstore snapshot (bad magic)"));
        }
        let format_version = u32_at(bytes, 8);
        if format_version != SNAPSHOT_FORMAT_VERSION {
            return Err(invalid(format!(
                "snapshot format {format_version}; this build reads {SNAPSHOT_FORMAT_VERSION}"
            )));
        }
        if u32_at(bytes, 12) != 0 {
            return Err(invalid("reserved header bytes are not zero"));
        }
        let applied_index = u64_at(bytes, 16);
        Ok(Self {
            format_version,
            applied_index: (applied_index != 0).then_some(applied_index),
            data_records: u64_at(bytes, 24),
            meta_records: u64_at(bytes, 32),
        })
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidSnapshot(reason.into())
}

/// Streams a snapshot: the header, then records in order, then [`finish`](Self::finish).
///
/// The writer checks what it is given against the header (counts, namespace order,
/// ascending keys), so a bug in an engine's read view cannot produce a stream that
/// [`SnapshotReader`] would then refuse.
pub struct SnapshotWriter<W: Write> {
    out: W,
    crc: u32,
    header: SnapshotHeader,
    written: [u64; 2],
    last_key: Option<(Namespace, Vec<u8>)>,
}

impl<W: Write> SnapshotWriter<W> {
    /// Writes `header` and returns a writer for its records.
    pub fn new(mut out: W, header: SnapshotHeader) -> Result<Self> {
        let bytes = header.encode();
        out.write_all(&bytes)?;
        Ok(Self {
            out,
            crc: crc32c::crc32c(&bytes),
            header,
            written: [0; 2],
            last_key: None,
        })
    }

    /// Writes one record: all data records first, then the meta records, each in
    /// strictly ascending key order.
    pub fn record(&mut self, namespace: Namespace, key: &[u8], value: &[u8]) -> Result<()> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(Error::invalid_argument(format!(
                "a snapshot key must be 1 to {MAX_KEY_LEN} bytes, not {}",
                key.len()
            )));
        }
        let value_len = u32::try_from(value.len())
            .map_err(|_| Error::invalid_argument("a snapshot value must be shorter than 4 GiB"))?;
        if let Some((last_namespace, last_key)) = &self.last_key
            && (namespace, key) <= (*last_namespace, last_key.as_slice())
        {
            return Err(Error::invalid_argument(
                "snapshot records must come data first, then meta, in ascending key order",
            ));
        }
        let slot = namespace_slot(namespace);
        self.written[slot] += 1;
        if self.written[slot] > self.expected(namespace) {
            return Err(Error::invalid_argument(
                "more snapshot records than the header announced",
            ));
        }
        let mut prefix = [0; 9];
        prefix[0] = namespace_tag(namespace);
        prefix[1..5].copy_from_slice(&(key.len() as u32).to_le_bytes());
        prefix[5..9].copy_from_slice(&value_len.to_le_bytes());
        for part in [&prefix[..], key, value] {
            self.out.write_all(part)?;
            self.crc = crc32c::crc32c_append(self.crc, part);
        }
        match &mut self.last_key {
            Some((last_namespace, last_key)) => {
                *last_namespace = namespace;
                last_key.clear();
                last_key.extend_from_slice(key);
            }
            None => self.last_key = Some((namespace, key.to_vec())),
        }
        Ok(())
    }

    /// Writes the footer and flushes; fails if fewer records were written than the
    /// header announced. Returns the underlying writer.
    pub fn finish(mut self) -> Result<W> {
        for namespace in [Namespace::Data, Namespace::Meta] {
            if self.written[namespace_slot(namespace)] != self.expected(namespace) {
                return Err(Error::invalid_argument(
                    "fewer snapshot records than the header announced",
                ));
            }
        }
        self.out.write_all(&self.crc.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn expected(&self, namespace: Namespace) -> u64 {
        match namespace {
            Namespace::Data => self.header.data_records,
            Namespace::Meta => self.header.meta_records,
        }
    }
}

fn namespace_tag(namespace: Namespace) -> u8 {
    match namespace {
        Namespace::Data => DATA,
        Namespace::Meta => META,
    }
}

fn namespace_slot(namespace: Namespace) -> usize {
    match namespace {
        Namespace::Data => 0,
        Namespace::Meta => 1,
    }
}

/// One record of a snapshot stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotRecord {
    /// The namespace it belongs to.
    pub namespace: Namespace,
    /// The key (1 to [`MAX_KEY_LEN`] bytes).
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// Reads a snapshot stream record by record and checks everything it can on the way:
/// magic, version, record framing, key lengths, namespace order, ascending keys, and
/// that the meta records hold the header's applied index; at the end the counts and the
/// CRC32C footer.
///
/// A record is only trustworthy once [`finish`](Self::finish) has returned `Ok`: a
/// consumer that changes anything must stage what it reads until then. Every failure is
/// [`Error::InvalidSnapshot`] (or [`Error::Io`] for a reader that fails).
pub struct SnapshotReader<R: Read> {
    input: R,
    crc: u32,
    header: SnapshotHeader,
    read: [u64; 2],
    last_key: Option<(Namespace, Vec<u8>)>,
    applied_index_record: Option<Option<u64>>,
}

impl<R: Read> SnapshotReader<R> {
    /// Reads and checks the header.
    pub fn new(mut input: R) -> Result<Self> {
        let mut bytes = [0; HEADER_LEN];
        read_exact(&mut input, &mut bytes, "the header")?;
        let header = SnapshotHeader::decode(&bytes)?;
        Ok(Self {
            input,
            crc: crc32c::crc32c(&bytes),
            header,
            read: [0; 2],
            last_key: None,
            applied_index_record: None,
        })
    }

    /// The stream's header.
    pub fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    /// The next record, or `None` after the last one the header announced.
    pub fn next_record(&mut self) -> Result<Option<SnapshotRecord>> {
        let namespace = if self.read[0] < self.header.data_records {
            Namespace::Data
        } else if self.read[1] < self.header.meta_records {
            Namespace::Meta
        } else {
            return Ok(None);
        };
        let mut prefix = [0; 9];
        self.read_part(&mut prefix, "a record header")?;
        if prefix[0] != namespace_tag(namespace) {
            return Err(invalid(format!(
                "record {} has namespace tag {}, expected {}",
                self.read[0] + self.read[1] + 1,
                prefix[0],
                namespace_tag(namespace)
            )));
        }
        let key_len = u32_at(&prefix, 1) as usize;
        if key_len == 0 || key_len > MAX_KEY_LEN {
            return Err(invalid(format!(
                "a key of {key_len} bytes (1 to {MAX_KEY_LEN} allowed)"
            )));
        }
        let value_len = u64::from(u32_at(&prefix, 5));
        let mut key = vec![0; key_len];
        self.read_part(&mut key, "a key")?;
        let mut value = Vec::new();
        let got = (&mut self.input).take(value_len).read_to_end(&mut value)?;
        if got as u64 != value_len {
            return Err(invalid("the stream ends inside a value"));
        }
        self.crc = crc32c::crc32c_append(self.crc, &value);
        if let Some((last_namespace, last_key)) = &self.last_key
            && *last_namespace == namespace
            && key.as_slice() <= last_key.as_slice()
        {
            return Err(invalid("keys are not in strictly ascending order"));
        }
        if namespace == Namespace::Meta && key == APPLIED_INDEX_KEY {
            self.applied_index_record = Some(decode_applied_index(Some(&value)));
        }
        self.read[namespace_slot(namespace)] += 1;
        self.last_key = Some((namespace, key.clone()));
        Ok(Some(SnapshotRecord {
            namespace,
            key,
            value,
        }))
    }

    /// Reads the footer after the last record and checks the CRC, and that the meta
    /// records agree with the header's applied index. Fails if records are left.
    pub fn finish(mut self) -> Result<SnapshotHeader> {
        if self.read != [self.header.data_records, self.header.meta_records] {
            return Err(invalid("finish called before the last record"));
        }
        let mut footer = [0; 4];
        read_exact(&mut self.input, &mut footer, "the CRC footer")?;
        let stored = u32::from_le_bytes(footer);
        if stored != self.crc {
            return Err(invalid(format!(
                "CRC32C mismatch: the footer says {stored:#010x}, the stream hashes to {:#010x}",
                self.crc
            )));
        }
        // The header stores "no index" as 0, so a meta record holding index 0 (which
        // older stores could write through `put_meta`) matches a header without one.
        let recorded = self
            .applied_index_record
            .flatten()
            .filter(|index| *index != 0);
        if recorded != self.header.applied_index {
            return Err(invalid(
                "the header's applied index differs from the meta record's",
            ));
        }
        Ok(self.header)
    }

    fn read_part(&mut self, buffer: &mut [u8], what: &str) -> Result<()> {
        read_exact(&mut self.input, buffer, what)?;
        self.crc = crc32c::crc32c_append(self.crc, buffer);
        Ok(())
    }
}

fn read_exact(input: &mut impl Read, buffer: &mut [u8], what: &str) -> Result<()> {
    input.read_exact(buffer).map_err(|error| {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            invalid(format!("the stream ends inside {what}"))
        } else {
            Error::Io(error)
        }
    })
}

/// Reads a whole snapshot stream and checks it (framing, order, counts, CRC) without
/// storing anything. Returns its header.
pub fn verify_snapshot(input: impl Read) -> Result<SnapshotHeader> {
    let mut reader = SnapshotReader::new(input)?;
    while reader.next_record()?.is_some() {}
    reader.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applied_index::encode_applied_index;

    fn stream(applied: Option<u64>, data: &[(&[u8], &[u8])]) -> Vec<u8> {
        let meta: Vec<(&[u8], Vec<u8>)> = applied
            .map(|index| (APPLIED_INDEX_KEY, encode_applied_index(index).to_vec()))
            .into_iter()
            .collect();
        let header = SnapshotHeader {
            format_version: SNAPSHOT_FORMAT_VERSION,
            applied_index: applied,
            data_records: data.len() as u64,
            meta_records: meta.len() as u64,
        };
        let mut writer = SnapshotWriter::new(Vec::new(), header).expect("header");
        for (key, value) in data {
            writer.record(Namespace::Data, key, value).expect("record");
        }
        for (key, value) in &meta {
            writer.record(Namespace::Meta, key, value).expect("record");
        }
        writer.finish().expect("finish")
    }

    fn is_invalid(result: Result<SnapshotHeader>) -> bool {
        matches!(result, Err(Error::InvalidSnapshot(_)))
    }

    #[test]
    fn a_stream_round_trips_with_its_header() {
        let bytes = stream(Some(7), &[(b"a", b"1"), (b"b", b"")]);
        let mut reader = SnapshotReader::new(bytes.as_slice()).expect("header");
        assert_eq!(reader.header().applied_index, Some(7));
        let mut records = Vec::new();
        while let Some(record) = reader.next_record().expect("record") {
            records.push((record.namespace, record.key, record.value));
        }
        assert_eq!(
            records,
            vec![
                (Namespace::Data, b"a".to_vec(), b"1".to_vec()),
                (Namespace::Data, b"b".to_vec(), Vec::new()),
                (
                    Namespace::Meta,
                    APPLIED_INDEX_KEY.to_vec(),
                    encode_applied_index(7).to_vec()
                ),
            ]
        );
        let header = reader.finish().expect("footer");
        assert_eq!((header.data_records, header.meta_records), (2, 1));
    }

    #[test]
    fn every_truncation_and_every_flipped_bit_is_refused() {
        let bytes = stream(Some(3), &[(b"key", b"value"), (b"other", b"x")]);
        assert!(verify_snapshot(bytes.as_slice()).is_ok());
        for len in 0..bytes.len() {
            assert!(is_invalid(verify_snapshot(&bytes[..len])), "cut at {len}");
        }
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[at] ^= 1 << bit;
                assert!(
                    is_invalid(verify_snapshot(flipped.as_slice())),
                    "bit {bit} of byte {at}"
                );
            }
        }
    }

    #[test]
    fn a_huge_value_length_fails_without_allocating_it() {
        let mut bytes = stream(None, &[(b"k", b"v")]);
        // The value length of the first record: 4 GiB - 1.
        bytes[HEADER_LEN + 5..HEADER_LEN + 9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(is_invalid(verify_snapshot(bytes.as_slice())));
    }

    #[test]
    fn a_header_index_the_meta_records_do_not_hold_is_refused() {
        let header = SnapshotHeader {
            format_version: SNAPSHOT_FORMAT_VERSION,
            applied_index: Some(9),
            data_records: 0,
            meta_records: 0,
        };
        let bytes = SnapshotWriter::new(Vec::new(), header)
            .expect("header")
            .finish()
            .expect("finish");
        assert!(is_invalid(verify_snapshot(bytes.as_slice())));
    }

    #[test]
    fn the_writer_refuses_records_out_of_order_or_beyond_the_header() {
        let header = SnapshotHeader {
            format_version: SNAPSHOT_FORMAT_VERSION,
            applied_index: None,
            data_records: 2,
            meta_records: 0,
        };
        let mut writer = SnapshotWriter::new(Vec::new(), header).expect("header");
        writer.record(Namespace::Data, b"b", b"").expect("first");
        assert!(writer.record(Namespace::Data, b"a", b"").is_err());
        assert!(writer.record(Namespace::Data, b"", b"").is_err());
        writer.record(Namespace::Data, b"c", b"").expect("second");
        assert!(writer.record(Namespace::Data, b"d", b"").is_err());
        assert!(
            SnapshotWriter::new(Vec::new(), header)
                .expect("header")
                .finish()
                .is_err()
        );
    }

    #[test]
    fn a_meta_record_holding_index_zero_matches_a_header_without_an_index() {
        // Stores written before index 0 was refused may hold it; their export restores.
        let bytes = stream(Some(0), &[(b"k", b"v")]);
        let header = verify_snapshot(bytes.as_slice()).expect("an index of 0 verifies");
        assert_eq!(header.applied_index, None);
    }
}
