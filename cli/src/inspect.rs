//! `fsmstore inspect`: what a store (or one group of a groups store) holds, read from
//! its marker and one export; and which groups a groups store holds.

use std::fmt::Write as _;
use std::path::Path;

use fsmstore::{
    APPLIED_INDEX_KEY, Engine, GroupInfo, Layout, Namespace, SnapshotReader, read_marker,
};
use serde_json::json;

use crate::Failure;

/// The applied index as stored.
#[derive(Debug, PartialEq, Eq)]
pub enum AppliedIndex {
    /// No applied-index key.
    Missing,
    /// A value that is not 8 bytes.
    Corrupt(Vec<u8>),
    /// A valid index and its 8 raw bytes.
    Present(u64, Vec<u8>),
}

/// The name `inspect` prints for a layout: `single` or `groups`.
pub fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Single => "single",
        Layout::Groups => "groups",
    }
}

/// What `inspect` prints of a store's marker, first in either report.
#[derive(Debug)]
struct Marked {
    engine: String,
    format_version: u32,
    created_sync_mode: Option<String>,
    layout: Layout,
}

impl Marked {
    /// Reads the marker of the store at `path`.
    fn read(path: &Path) -> Result<Self, Failure> {
        let marker = read_marker(path)?;
        Ok(Self {
            engine: marker.engine,
            format_version: marker.format_version,
            created_sync_mode: marker.created_sync_mode.map(|mode| mode.to_string()),
            layout: marker.layout,
        })
    }

    /// The first lines of a report for people.
    fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "engine: {}", self.engine);
        let _ = writeln!(out, "format version: {}", self.format_version);
        let _ = writeln!(
            out,
            "created sync mode: {}",
            self.created_sync_mode.as_deref().unwrap_or("not recorded")
        );
        let _ = writeln!(out, "layout: {}", layout_name(self.layout));
        out
    }

    /// The first fields of a report for programs, an object that takes the others.
    fn to_json(&self) -> serde_json::Value {
        json!({
            "engine": self.engine,
            "format_version": self.format_version,
            "created_sync_mode": self.created_sync_mode,
            "layout": layout_name(self.layout),
        })
    }
}

/// Everything `inspect` prints of a store of one group, or of one group of a groups
/// store.
#[derive(Debug)]
pub struct Report {
    marked: Marked,
    /// The group inspected, with its generation, when the store is a groups store.
    group: Option<(u64, u32)>,
    applied: AppliedIndex,
    meta: Vec<(Vec<u8>, Vec<u8>)>,
    data_keys: u64,
    data_bytes: u64,
}

/// Reads the marker of the store at `path`, and walks one export of `store` (through an
/// in-process pipe, so memory stays bounded) for the meta keys and the data totals.
/// `group` is the group `store` is, when `path` holds a groups store.
pub fn inspect(
    path: &Path,
    store: &dyn Engine,
    group: Option<GroupInfo>,
) -> Result<Report, Failure> {
    let marked = Marked::read(path)?;
    let (writer, reader) = crate::pipe::pipe();
    let (meta, data_keys, data_bytes) = std::thread::scope(|scope| {
        let exporter = scope.spawn(move || {
            let mut writer = writer;
            store.export(&mut writer)
        });
        let walked = walk(reader);
        let exported = exporter
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        exported?;
        walked
    })?;
    let applied = match meta.iter().find(|(name, _)| name == APPLIED_INDEX_KEY) {
        None => AppliedIndex::Missing,
        Some((_, value)) => match <[u8; 8]>::try_from(value.as_slice()) {
            Ok(bytes) => AppliedIndex::Present(u64::from_le_bytes(bytes), value.clone()),
            Err(_) => AppliedIndex::Corrupt(value.clone()),
        },
    };
    Ok(Report {
        marked,
        group: group.map(|info| (info.id, info.generation)),
        applied,
        meta,
        data_keys,
        data_bytes,
    })
}

type Walked = (Vec<(Vec<u8>, Vec<u8>)>, u64, u64);

fn walk(reader: impl std::io::Read) -> fsmstore::Result<Walked> {
    let mut reader = SnapshotReader::new(reader)?;
    let (mut meta, mut data_keys, mut data_bytes) = (Vec::new(), 0, 0);
    while let Some(record) = reader.next_record()? {
        match record.namespace {
            Namespace::Data => {
                data_keys += 1;
                data_bytes += (record.key.len() + record.value.len()) as u64;
            }
            Namespace::Meta => meta.push((record.key, record.value)),
        }
    }
    reader.finish()?;
    Ok((meta, data_keys, data_bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// A meta value for programs: a JSON object or array as itself (openraft's last applied
/// log id, membership and snapshot meta are JSON), other printable UTF-8 as a string,
/// anything else as `null` (its hex is beside it).
fn json_or_text(bytes: &[u8]) -> serde_json::Value {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => value,
        _ => json!(text(bytes)),
    }
}

/// The bytes as text when they are printable UTF-8.
fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|text| !text.is_empty() && text.chars().all(|c| !c.is_control()))
}

impl Report {
    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut out = self.marked.to_text();
        if let Some((id, generation)) = self.group {
            let _ = writeln!(out, "group: {id}");
            let _ = writeln!(out, "group generation: {generation}");
        }
        let applied = match &self.applied {
            AppliedIndex::Missing => "missing".to_owned(),
            AppliedIndex::Corrupt(bytes) => {
                format!("corrupt ({} bytes: {})", bytes.len(), hex(bytes))
            }
            AppliedIndex::Present(index, bytes) => format!("{index} (raw {})", hex(bytes)),
        };
        let _ = writeln!(out, "applied index: {applied}");
        let _ = writeln!(out, "meta keys: {}", self.meta.len());
        for (name, value) in &self.meta {
            let name = text(name).map_or_else(|| format!("0x{}", hex(name)), str::to_owned);
            match text(value) {
                Some(value) => {
                    let _ = writeln!(out, "  {name} = {value:?}");
                }
                None => {
                    let _ = writeln!(out, "  {name} = 0x{}", hex(value));
                }
            }
        }
        let _ = writeln!(out, "data keys: {}", self.data_keys);
        let _ = writeln!(out, "data bytes: {}", self.data_bytes);
        out
    }

    /// The report for programs.
    pub fn to_json(&self) -> String {
        let applied = match &self.applied {
            AppliedIndex::Missing => json!({"state": "missing"}),
            AppliedIndex::Corrupt(bytes) => {
                json!({"state": "corrupt", "length": bytes.len(), "raw_hex": hex(bytes)})
            }
            AppliedIndex::Present(index, bytes) => {
                json!({"state": "present", "value": index, "raw_hex": hex(bytes)})
            }
        };
        let meta: Vec<_> = self
            .meta
            .iter()
            .map(|(name, value)| {
                json!({
                    "name": text(name),
                    "name_hex": hex(name),
                    "value": json_or_text(value),
                    "value_hex": hex(value),
                })
            })
            .collect();
        let mut report = self.marked.to_json();
        report["applied_index"] = applied;
        report["meta"] = json!(meta);
        report["data_keys"] = json!(self.data_keys);
        report["data_bytes"] = json!(self.data_bytes);
        if let Some((id, generation)) = self.group {
            report["group"] = json!(id);
            report["group_generation"] = json!(generation);
        }
        format!("{report:#}\n")
    }
}

/// Everything `inspect` prints of a groups store as a whole: its marker and its groups.
#[derive(Debug)]
pub struct GroupsReport {
    marked: Marked,
    groups: Vec<GroupInfo>,
}

/// Reads the marker of the groups store at `path`; `groups` is what its
/// [`GroupStore::groups`](fsmstore::GroupStore::groups) lists.
pub fn inspect_groups(path: &Path, groups: Vec<GroupInfo>) -> Result<GroupsReport, Failure> {
    let marked = Marked {
        layout: Layout::Groups,
        ..Marked::read(path)?
    };
    Ok(GroupsReport { marked, groups })
}

impl GroupsReport {
    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut out = self.marked.to_text();
        let _ = writeln!(out, "groups: {}", self.groups.len());
        for group in &self.groups {
            let applied = group
                .applied_index
                .map_or_else(|| "none".to_owned(), |index| index.to_string());
            let _ = writeln!(
                out,
                "  group {}: applied index {applied}, generation {}",
                group.id, group.generation
            );
        }
        out
    }

    /// The report for programs.
    pub fn to_json(&self) -> String {
        let groups: Vec<_> = self
            .groups
            .iter()
            .map(|group| {
                json!({
                    "id": group.id,
                    "applied_index": group.applied_index,
                    "generation": group.generation,
                })
            })
            .collect();
        let mut report = self.marked.to_json();
        report["groups"] = json!(groups);
        format!("{report:#}\n")
    }
}
