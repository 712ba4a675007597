//! A snapshot received in pieces, as a network layer gets it: streamed into the
//! receiving node's snapshot directory, checked as it arrives, installed from the file
//! the receiver hands over; damaged, cut or overlong streams are refused and leave
//! nothing behind.

mod common;

use std::io::Read;
use std::path::Path;

use common::{Sm, TypeConfig, apply, normal, open_node, runtime, set};
use fsmstore::{Backend, SyncMode};
use fsmstore_openraft::SnapshotReceiver;
use openraft::RaftSnapshotBuilder;
use openraft::alias::SnapshotMetaOf;
use openraft::storage::RaftStateMachine;

/// A leader's snapshot of 200 keys: its meta and its stream's bytes.
fn leader_snapshot(root: &Path) -> (SnapshotMetaOf<TypeConfig>, Vec<u8>, Sm) {
    let (_log, mut leader) = open_node(Backend::Redb, root, SyncMode::NoSync);
    runtime().block_on(async {
        let entries = (1..=200)
            .map(|i| normal(i, set(&format!("key/{i:04}"), &"v".repeat(50))))
            .collect();
        apply(&mut leader, entries).await;
        let mut builder = leader.get_snapshot_builder().await;
        let mut snapshot = builder.build_snapshot().await.expect("build");
        let mut bytes = Vec::new();
        snapshot.snapshot.read_to_end(&mut bytes).expect("read");
        (snapshot.meta, bytes, leader)
    })
}

/// What a receive left in the snapshot directory besides finished snapshots.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".tmp"))
        .collect()
}

/// Feeds `bytes` in chunks of 1000 and finishes: the first error, if any.
fn receive(dir: &Path, bytes: &[u8]) -> std::io::Result<std::fs::File> {
    let mut receiver = SnapshotReceiver::new(dir)?;
    for chunk in bytes.chunks(1000) {
        receiver.write_all(chunk)?;
    }
    receiver.finish()
}

#[test]
fn a_snapshot_received_in_pieces_installs_and_leaves_nothing_behind() {
    let work = tempfile::tempdir().expect("tempdir");
    let (meta, bytes, leader) = leader_snapshot(&work.path().join("leader"));
    assert!(
        bytes.len() > 10_000,
        "{} bytes: several chunks",
        bytes.len()
    );
    let root = work.path().join("follower");
    let (_log, mut follower) = open_node(Backend::Fjall, &root, SyncMode::NoSync);
    let observer = follower.observer();
    let dir = root.join("snapshots");
    let file = receive(&dir, &bytes).expect("received");
    assert_eq!(leftovers(&dir), Vec::<String>::new());
    runtime()
        .block_on(follower.install_snapshot(&meta, file))
        .expect("install");
    assert_eq!(observer.restores_received(), 1);
    assert_eq!(
        follower.engine().scan_prefix(b"").expect("scan"),
        leader.engine().scan_prefix(b"").expect("scan")
    );
    assert_eq!(
        observer
            .current_snapshot()
            .expect("read")
            .map(|m| m.last_log_id),
        Some(meta.last_log_id)
    );
}

#[test]
fn damaged_cut_or_overlong_streams_are_refused_and_leave_nothing_behind() {
    let work = tempfile::tempdir().expect("tempdir");
    let (_meta, bytes, _leader) = leader_snapshot(&work.path().join("leader"));
    let dir = work.path().join("snapshots");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut damaged = bytes.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    let cut = &bytes[..bytes.len() - 100];
    let mut overlong = bytes.clone();
    overlong.extend_from_slice(&[0u8; 3000]);
    for (what, stream) in [
        ("damaged", &damaged[..]),
        ("cut", cut),
        ("overlong", &overlong[..]),
    ] {
        let error = receive(&dir, stream).expect_err(what);
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::InvalidData,
            "{what}: {error}"
        );
        assert_eq!(leftovers(&dir), Vec::<String>::new(), "{what}");
        assert_eq!(std::fs::read_dir(&dir).expect("list").count(), 0, "{what}");
    }
}
