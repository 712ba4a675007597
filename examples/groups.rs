//! Many raft groups in one store: each group an `Engine`, isolated from the others, and
//! concurrent Sync applies of different groups sharing one fsync — on the default engine.
//!
//! ```text
//! cargo run --example groups
//! ```

use fsmstore::{Config, SyncMode, WriteBatch};

fn main() -> fsmstore::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("groups");
    let store = fsmstore::open_groups(
        fsmstore::DEFAULT_BACKEND,
        &path,
        &Config::new(SyncMode::Sync),
    )?;
    let ids: Vec<u64> = (1..=16).collect();
    for &id in &ids {
        store.create_group(id)?; // durable when it returns
    }
    let groups = ids
        .iter()
        .map(|&id| store.open_group(id))
        .collect::<fsmstore::Result<Vec<_>>>()?;
    std::thread::scope(|scope| {
        for (group, id) in groups.iter().zip(&ids) {
            scope.spawn(move || -> fsmstore::Result<()> {
                for index in 1..=50u64 {
                    let mut batch = WriteBatch::new();
                    batch.put(
                        format!("key/{index:03}"),
                        format!("group {id}, entry {index}"),
                    );
                    group.apply(&batch, Some(index))?; // a Sync apply: durable on return
                }
                Ok(())
            });
        }
    });
    // An empty prefix deletes everything, in group 2 only.
    let mut everything = WriteBatch::new();
    everything.delete_prefix("", None);
    groups[1].apply(&everything, Some(51))?;
    println!("group 1 keys: {}", groups[0].scan_prefix(b"")?.len());
    println!("group 2 keys: {}", groups[1].scan_prefix(b"")?.len());
    let stats = store.commit_stats();
    println!(
        "{} commits took {} engine commits, {} of them fsynced",
        stats.commits, stats.rounds, stats.durable_rounds
    );
    drop(groups);
    store.drop_group(16)?; // atomic and durable
    for group in store.groups()? {
        println!(
            "group {:>2}: applied index {:?}",
            group.id, group.applied_index
        );
    }
    store.close()
}
