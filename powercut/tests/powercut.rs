//! The power-cut filesystem's own behaviour, each test on its own mount.
#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use powercut::{CutReport, DataMode, MetaMode, OpKind, Options, PowerCut, Trigger};
use tempfile::TempDir;

/// Whether this machine can mount; under `CI=true` it must.
fn can_mount() -> bool {
    match powercut::availability() {
        Ok(()) => true,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("the power-cut filesystem cannot be mounted under CI: {why}")
        }
        Err(why) => {
            eprintln!("skipped: the power-cut filesystem cannot be mounted here: {why}");
            false
        }
    }
}

fn opts(meta: MetaMode, data: DataMode) -> Options {
    Options {
        meta,
        data,
        ..Options::default()
    }
}

fn mount(options: Options) -> (TempDir, PowerCut) {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = PowerCut::mount(&dir.path().join("mnt"), options).expect("mount");
    (dir, m)
}

fn finish(dir: &TempDir, m: PowerCut) -> (PathBuf, CutReport) {
    let img = dir.path().join("image");
    let report = m.finish(&img).expect("finish");
    (img, report)
}

fn fsync(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Every regular file of an image, by relative path.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            if e.file_type().expect("type").is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                stack.push(p);
            } else {
                out.insert(rel, fs::read(&p).expect("read"));
            }
        }
    }
    out
}

fn is_eio(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EIO)
}

fn mounted(path: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let want = path.to_string_lossy().replace(' ', "\\040");
    info.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        f.len() > 4 && f[4] == want && l.contains(" - fuse") && l.contains(" powercut ")
    })
}

#[test]
fn synced_file_survives_and_unsynced_is_lost() {
    if !can_mount() {
        return;
    }
    let (dir, m) = mount(opts(MetaMode::Posix, DataMode::DropUnsynced));
    let p = m.path().to_path_buf();
    write_synced(&p.join("synced"), b"exactly these bytes").expect("synced");
    fs::write(p.join("unsynced"), b"never synced").expect("unsynced");
    fsync(&p).expect("fsync root");
    // Written after the directory sync: neither entry nor data.
    fs::write(p.join("late"), b"late").expect("late");
    // Volatile state shows everything.
    assert_eq!(fs::read(p.join("unsynced")).expect("read"), b"never synced");
    let (img, report) = finish(&dir, m);
    let t = tree(&img);
    assert_eq!(
        t.get("synced").map(Vec::as_slice),
        Some(&b"exactly these bytes"[..])
    );
    assert_eq!(t.get("unsynced").map(Vec::len), Some(0), "{t:?}");
    assert!(!t.contains_key("late"));
    assert_eq!(report.files, 2);
    assert!(report.pages_dropped >= 1);
}

#[test]
fn posix_entries_need_a_directory_fsync() {
    if !can_mount() {
        return;
    }
    // Created and fsynced, directory never synced: absent.
    let (dir, m) = mount(opts(MetaMode::Posix, DataMode::DropUnsynced));
    let p = m.path().to_path_buf();
    fs::create_dir(p.join("d")).expect("mkdir");
    fsync(&p).expect("fsync root");
    write_synced(&p.join("d/f"), b"data").expect("write");
    let (img, _) = finish(&dir, m);
    assert!(img.join("d").is_dir());
    assert!(!img.join("d/f").exists());

    // The same, then the directory is synced: present.
    let (dir, m) = mount(opts(MetaMode::Posix, DataMode::DropUnsynced));
    let p = m.path().to_path_buf();
    fs::create_dir(p.join("d")).expect("mkdir");
    fsync(&p).expect("fsync root");
    write_synced(&p.join("d/f"), b"data").expect("write");
    fsync(&p.join("d")).expect("fsync d");
    let (img, _) = finish(&dir, m);
    assert_eq!(fs::read(img.join("d/f")).expect("f"), b"data");

    // A rename not followed by a directory fsync leaves the old name, even after an
    // fsync of the renamed file.
    let (dir, m) = mount(opts(MetaMode::Posix, DataMode::DropUnsynced));
    let p = m.path().to_path_buf();
    write_synced(&p.join("old"), b"v1").expect("write");
    fsync(&p).expect("fsync root");
    fs::rename(p.join("old"), p.join("new")).expect("rename");
    fsync(&p.join("new")).expect("fsync file");
    assert!(p.join("new").exists() && !p.join("old").exists());
    let (img, _) = finish(&dir, m);
    assert_eq!(fs::read(img.join("old")).expect("old"), b"v1");
    assert!(!img.join("new").exists());
}

#[test]
fn journal_mode_commits_the_namespace_on_any_fsync() {
    if !can_mount() {
        return;
    }
    let (dir, m) = mount(opts(MetaMode::Journal, DataMode::DropUnsynced));
    let p = m.path().to_path_buf();
    fs::create_dir(p.join("d")).expect("mkdir");
    write_synced(&p.join("d/f"), b"data").expect("write");
    write_synced(&p.join("old"), b"v1").expect("write");
    fs::rename(p.join("old"), p.join("new")).expect("rename");
    fs::write(p.join("unsynced"), b"x").expect("write");
    // An fsync of an unrelated file commits every earlier namespace change.
    write_synced(&p.join("other"), b"o").expect("other");
    fs::write(p.join("after"), b"x").expect("after");
    let (img, _) = finish(&dir, m);
    let t = tree(&img);
    assert_eq!(t.get("d/f").map(Vec::as_slice), Some(&b"data"[..]), "{t:?}");
    assert_eq!(t.get("new").map(Vec::as_slice), Some(&b"v1"[..]));
    assert!(!t.contains_key("old"));
    assert_eq!(
        t.get("unsynced").map(Vec::len),
        Some(0),
        "entry kept, data lost"
    );
    assert!(!t.contains_key("after"));
}

#[test]
fn o_dsync_writes_are_durable_without_fsync() {
    if !can_mount() {
        return;
    }
    let (dir, m) = mount(opts(MetaMode::Posix, DataMode::DropUnsynced));
    let p = m.path().to_path_buf();
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .custom_flags(libc::O_DSYNC)
        .open(p.join("log"))
        .expect("open");
    fsync(&p).expect("fsync root");
    let before = m.fsyncs();
    f.write_all(b"first").expect("write");
    assert_eq!(m.fsyncs(), before + 1, "one sync point per O_DSYNC write");
    f.write_all(b" second").expect("write");
    let mut plain = OpenOptions::new()
        .write(true)
        .open(p.join("log"))
        .expect("open plain");
    plain.write_all_at(b"XXXXX", 100).expect("plain write");
    plain.flush().expect("flush");
    let (img, _) = finish(&dir, m);
    assert_eq!(fs::read(img.join("log")).expect("log"), b"first second");
}

/// A small history whose sync points each make something new durable (journal mode):
/// file `f{i}` is written and fsynced; then one more file is written.
fn history(p: &Path, files: usize) -> Result<usize, (usize, io::Error)> {
    let mut done = 0;
    for i in 0..files {
        let data = format!("file {i} ").repeat(100 + i);
        let path = p.join(format!("f{i}"));
        let mut f = File::create(&path).map_err(|e| (done, e))?;
        f.write_all(data.as_bytes()).map_err(|e| (done, e))?;
        f.sync_all().map_err(|e| (done, e))?;
        done += 1;
    }
    fs::write(p.join("tail"), b"tail").map_err(|e| (done, e))?;
    Ok(done)
}

#[test]
fn after_fsyncs_steps_through_every_cut_point() {
    if !can_mount() {
        return;
    }
    const FILES: usize = 4;
    let (dir, m) = mount(opts(MetaMode::Journal, DataMode::DropUnsynced));
    assert_eq!(history(m.path(), FILES).expect("history"), FILES);
    let k = m.fsyncs();
    assert_eq!(k, FILES as u64);
    drop(finish(&dir, m));

    let mut images: Vec<BTreeMap<String, Vec<u8>>> = Vec::new();
    for n in 1..=k {
        let mut o = opts(MetaMode::Journal, DataMode::DropUnsynced);
        o.trigger = Trigger::AfterFsyncs(n);
        let (dir, m) = mount(o);
        let (done, err) = history(m.path(), FILES).expect_err("the cut stops the history");
        assert!(is_eio(&err), "{err}");
        // The n-th fsync was answered OK, the operation after it failed.
        assert_eq!(done as u64, n);
        assert!(m.is_cut());
        assert_eq!(m.fsyncs(), n);
        let (img, report) = finish(&dir, m);
        assert_eq!(report.reason, format!("after sync point {n}"));
        let t = tree(&img);
        let want: BTreeMap<String, Vec<u8>> = (0..n as usize)
            .map(|i| {
                (
                    format!("f{i}"),
                    format!("file {i} ").repeat(100 + i).into_bytes(),
                )
            })
            .collect();
        assert_eq!(t, want, "image after sync point {n}");
        images.push(t);
    }
    for w in images.windows(2) {
        assert_ne!(w[0], w[1]);
        assert!(w[0].iter().all(|(k, v)| w[1].get(k) == Some(v)), "nested");
    }
}

#[test]
fn on_op_rename_cuts_before_the_rename() {
    if !can_mount() {
        return;
    }
    let mut o = opts(MetaMode::Posix, DataMode::DropUnsynced);
    o.trigger = Trigger::OnOp {
        op: OpKind::Rename,
        name_contains: "/FSMSTORE".to_owned(),
    };
    let (dir, m) = mount(o);
    let p = m.path().to_path_buf();
    fs::create_dir(p.join("store")).expect("mkdir");
    fsync(&p).expect("fsync root");
    write_synced(&p.join("store/tmp"), b"marker").expect("tmp");
    // Neither the source name nor another operation kind matches.
    fs::rename(p.join("store/tmp"), p.join("store/.FSMSTORE.tmp")).expect("no match");
    fs::write(p.join("store/FSMSTORE-not-a-rename"), b"x").expect("not a rename");
    fsync(&p.join("store")).expect("fsync store");
    let err = fs::rename(p.join("store/.FSMSTORE.tmp"), p.join("store/FSMSTORE"))
        .expect_err("the matching rename fails");
    assert!(is_eio(&err), "{err}");
    assert!(m.wait_for_cut(Duration::from_secs(5)));
    let err = fs::metadata(p.join("store")).expect_err("everything fails after the cut");
    assert!(is_eio(&err), "{err}");
    let (img, report) = finish(&dir, m);
    assert!(
        report.reason.contains("/store/FSMSTORE"),
        "{}",
        report.reason
    );
    assert_eq!(
        fs::read(img.join("store/.FSMSTORE.tmp")).expect("old name"),
        b"marker"
    );
    assert!(!img.join("store/FSMSTORE").exists());
}

/// 64 unsynced pages over a durable entry; returns the image's file.
fn keep_random_image(seed: u64) -> (Vec<u8>, CutReport) {
    let mut o = opts(MetaMode::Posix, DataMode::KeepRandom);
    o.seed = seed;
    let (dir, m) = mount(o);
    let p = m.path().to_path_buf();
    write_synced(&p.join("f"), &[b'd'; 4096]).expect("durable");
    fsync(&p).expect("fsync root");
    let f = OpenOptions::new()
        .write(true)
        .open(p.join("f"))
        .expect("open");
    for i in 0..64u8 {
        f.write_all_at(&[i + 1; 4096], u64::from(i) * 4096)
            .expect("write");
    }
    drop(f);
    let (img, report) = finish(&dir, m);
    (fs::read(img.join("f")).expect("f"), report)
}

#[test]
fn keep_random_is_reproducible_per_seed() {
    if !can_mount() {
        return;
    }
    let (a, ra) = keep_random_image(7);
    let (b, rb) = keep_random_image(7);
    let (c, _) = keep_random_image(8);
    assert_eq!(a, b, "same seed, same image");
    assert_eq!(ra, rb);
    assert_ne!(a, c, "another seed, another image");
    assert_eq!(ra.pages_kept + ra.pages_dropped, 64);
    assert!(ra.pages_kept > 0 && ra.pages_dropped > 0, "{ra:?}");
    // Every page is either the durable one (or a hole past it) or the written one.
    for (i, page) in a.chunks(4096).enumerate() {
        let written = (i as u8) + 1;
        let durable = if i == 0 { b'd' } else { 0 };
        assert!(
            page.iter().all(|&x| x == written) || page.iter().all(|&x| x == durable),
            "page {i}"
        );
    }
}

#[test]
fn tear_last_cuts_the_last_write_at_a_sector_boundary() {
    if !can_mount() {
        return;
    }
    let mut cuts = std::collections::BTreeSet::new();
    for seed in 0..6 {
        let mut o = opts(MetaMode::Posix, DataMode::TearLast);
        o.seed = seed;
        let (dir, m) = mount(o);
        let p = m.path().to_path_buf();
        write_synced(&p.join("f"), &[b'a'; 8192]).expect("durable");
        fsync(&p).expect("fsync root");
        let f = OpenOptions::new()
            .write(true)
            .open(p.join("f"))
            .expect("open");
        f.write_all_at(&[b'b'; 4096], 8192).expect("earlier write");
        f.write_all_at(&[b'c'; 10000], 100).expect("last write");
        drop(f);
        let (img, report) = finish(&dir, m);
        assert_eq!(report.writes_torn, 1);
        let data = fs::read(img.join("f")).expect("f");
        assert_eq!(data.len(), 12288, "earlier unsynced write kept");
        assert!(data[..100].iter().all(|&x| x == b'a'));
        let cut = 100 + data[100..].iter().take_while(|&&x| x == b'c').count();
        assert!(cut < 10100, "the last write is torn");
        assert_eq!(cut % 512, 0, "torn at {cut}");
        for (i, &x) in data.iter().enumerate().skip(cut) {
            let old = if i < 8192 { b'a' } else { b'b' };
            assert_eq!(x, old, "byte {i} after the tear");
        }
        cuts.insert(cut);
    }
    assert!(
        cuts.len() > 1,
        "the tear point depends on the seed: {cuts:?}"
    );
}

#[test]
fn failed_fsync_loses_its_pages_for_good() {
    if !can_mount() {
        return;
    }
    let mut o = opts(MetaMode::Posix, DataMode::DropUnsynced);
    o.fail_fsync = Some(2);
    let (dir, m) = mount(o);
    let p = m.path().to_path_buf();
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(p.join("f"))
        .expect("create");
    fsync(&p).expect("sync point 1: the entry");
    f.write_all_at(&[b'A'; 4096], 0).expect("write A");
    let err = f.sync_all().expect_err("sync point 2 fails");
    assert!(is_eio(&err), "{err}");
    assert!(!m.is_cut(), "a failed fsync is not a cut");
    f.write_all_at(&[b'B'; 4096], 4096).expect("write B");
    f.sync_all().expect("sync point 3 succeeds");
    let mut page = [0u8; 4096];
    f.read_exact_at(&mut page, 0).expect("read");
    assert_eq!(
        page, [b'A'; 4096],
        "the volatile state still shows the lost pages"
    );
    drop(f);
    assert_eq!(m.fsyncs(), 3);
    let (img, _) = finish(&dir, m);
    let data = fs::read(img.join("f")).expect("f");
    assert_eq!(data.len(), 8192);
    assert!(
        data[..4096].iter().all(|&x| x == 0),
        "the failed fsync's page is gone"
    );
    assert!(data[4096..].iter().all(|&x| x == b'B'));
}

#[test]
fn big_and_sparse_files_share_pages_between_the_states() {
    if !can_mount() {
        return;
    }
    const MIB: usize = 1 << 20;
    const PAGES: u64 = (64 * MIB / 4096) as u64;
    let (dir, m) = mount(opts(MetaMode::Journal, DataMode::DropUnsynced));
    let p = m.path().to_path_buf();
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(p.join("big"))
        .expect("create");
    let chunk = vec![b'x'; MIB];
    for i in 0..64 {
        f.write_all_at(&chunk, (i * MIB) as u64).expect("write");
    }
    f.sync_all().expect("fsync");
    let s = m.pages();
    assert_eq!(
        (s.volatile, s.durable, s.allocated),
        (PAGES, PAGES, PAGES),
        "{s:?}"
    );
    // The second pass over the same 64 MiB (unsynced) copies each page once.
    let chunk = vec![b'y'; MIB];
    for i in 0..64 {
        f.write_all_at(&chunk, (i * MIB) as u64).expect("write");
    }
    let s = m.pages();
    assert_eq!(
        (s.volatile, s.durable, s.allocated),
        (PAGES, PAGES, 2 * PAGES)
    );
    // A sync shares them again; the old pages are freed.
    f.sync_all().expect("fsync");
    assert_eq!(m.pages().allocated, PAGES);
    // Sparse: one byte at 1 GiB is one page.
    f.write_all_at(b"z", 1 << 30).expect("far write");
    f.sync_all().expect("fsync");
    assert_eq!(m.pages().allocated, PAGES + 1);
    drop(f);
    let (img, report) = finish(&dir, m);
    assert_eq!(report.bytes, (1 << 30) + 1);
    let f = File::open(img.join("big")).expect("image");
    let mut buf = [0u8; 3];
    f.read_exact_at(&mut buf, 64 * MIB as u64 - 2)
        .expect("read");
    assert_eq!(&buf, b"yy\0");
    f.read_exact_at(&mut buf[..1], 1 << 30).expect("read");
    assert_eq!(buf[0], b'z');
}

#[test]
fn stale_mounts_are_unmounted_before_a_new_one() {
    if !can_mount() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let at = dir.path().join("mnt");
    let leaked = PowerCut::mount(&at, Options::default()).expect("first mount");
    let path = leaked.path().to_path_buf();
    fs::write(path.join("old"), b"old").expect("write");
    std::mem::forget(leaked);
    assert!(mounted(&path));
    let m = PowerCut::mount(&at, Options::default()).expect("second mount");
    assert!(!path.join("old").exists(), "a fresh filesystem");
    fs::write(path.join("new"), b"new").expect("write");
    drop(m);
    assert!(!mounted(&path), "nothing left at {}", path.display());
}

#[test]
fn drop_unmounts_also_on_panic() {
    if !can_mount() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let at = dir.path().join("mnt");
    let result = std::panic::catch_unwind(|| {
        let m = PowerCut::mount(&at, Options::default()).expect("mount");
        fs::write(m.path().join("f"), b"x").expect("write");
        assert!(mounted(m.path()));
        panic!("a test failing while mounted");
    });
    assert!(result.is_err());
    let path = fs::canonicalize(dir.path()).expect("canon").join("mnt");
    assert!(!mounted(&path));
    // The directory below is empty again and usable.
    assert_eq!(fs::read_dir(&path).expect("dir").count(), 0);
}

#[test]
fn timed_cut_and_bounded_wait() {
    if !can_mount() {
        return;
    }
    let o = Options {
        trigger: Trigger::AfterTime(Duration::from_millis(100)),
        ..Options::default()
    };
    let (dir, m) = mount(o);
    let p = m.path().to_path_buf();
    fs::write(p.join("f"), b"x").expect("before the cut");
    assert!(m.wait_for_cut(Duration::from_secs(10)));
    let err = fs::write(p.join("g"), b"x").expect_err("after the cut");
    assert!(is_eio(&err), "{err}");
    m.check().expect("no watchdog fault");
    let (_, report) = finish(&dir, m);
    assert_eq!(report.reason, "after time");

    // A manual trigger never fires by itself: the wait times out.
    let (dir, m) = mount(Options::default());
    assert!(!m.wait_for_cut(Duration::from_millis(50)));
    drop(finish(&dir, m));
}

#[test]
fn finish_refuses_a_non_empty_destination() {
    if !can_mount() {
        return;
    }
    let (dir, m) = mount(Options::default());
    let dest = dir.path().join("busy");
    fs::create_dir(&dest).expect("mkdir");
    fs::write(dest.join("x"), b"x").expect("write");
    let err = m.finish(&dest).expect_err("refused");
    assert!(
        matches!(err, powercut::Error::DestinationNotEmpty(_)),
        "{err}"
    );
}

#[test]
fn redb_commits_survive_by_durability() {
    use redb::{Database, Durability, ReadableDatabase, TableDefinition};
    const T: TableDefinition<u64, &str> = TableDefinition::new("t");
    if !can_mount() {
        return;
    }
    let (dir, m) = mount(opts(MetaMode::Posix, DataMode::DropUnsynced));
    let p = m.path().to_path_buf();
    {
        let db = Database::create(p.join("db.redb")).expect("create");
        // redb does not sync the directory; the store's code must.
        fsync(&p).expect("fsync root");
        let tx = db.begin_write().expect("begin");
        tx.open_table(T)
            .expect("table")
            .insert(1, "durable")
            .expect("insert");
        tx.commit().expect("commit");
        let mut tx = db.begin_write().expect("begin");
        tx.set_durability(Durability::None).expect("durability");
        tx.open_table(T)
            .expect("table")
            .insert(2, "volatile")
            .expect("insert");
        tx.commit().expect("commit");
        let rx = db.begin_read().expect("read");
        assert!(rx.open_table(T).expect("t").get(2).expect("get").is_some());
        m.cut_now();
        // The database is dropped after the cut; its close fails on EIO.
    }
    let (img, _) = finish(&dir, m);
    let db = Database::open(img.join("db.redb")).expect("reopen the image");
    let rx = db.begin_read().expect("read");
    let t = rx.open_table(T).expect("table");
    assert_eq!(t.get(1).expect("get").expect("key 1").value(), "durable");
    assert!(
        t.get(2).expect("get").is_none(),
        "the non-durable commit is gone"
    );
}

#[test]
fn drop_with_open_files_is_bounded() {
    if !can_mount() {
        return;
    }
    let (dir, m) = mount(Options::default());
    let path = m.path().to_path_buf();
    let f = File::create(path.join("held")).expect("create");
    let started = std::time::Instant::now();
    drop(m);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "unmounting took {:?}",
        started.elapsed()
    );
    assert!(!mounted(&path));
    // The open file is dead, not hanging.
    let err = f.write_at(b"x", 0).expect_err("the connection is gone");
    assert!(err.raw_os_error().is_some(), "{err}");
    drop(dir);
}

#[test]
fn a_dead_server_is_reported_not_hung() {
    use std::os::unix::fs::MetadataExt;
    if !can_mount() {
        return;
    }
    let (dir, m) = mount(Options::default());
    fs::write(m.path().join("f"), b"x").expect("write");
    // Kill the connection from outside, as a crashed server would leave it.
    let dev = fs::metadata(m.path()).expect("stat").dev();
    let id = (u64::from(libc::major(dev)) << 20) | u64::from(libc::minor(dev));
    let conns = Path::new("/sys/fs/fuse/connections");
    if !conns.join(id.to_string()).exists() {
        let _ = std::process::Command::new("mount")
            .args(["-t", "fusectl", "fusectl"])
            .arg(conns)
            .status();
    }
    fs::write(conns.join(id.to_string()).join("abort"), "1").expect("abort");
    assert!(m.wait_for_cut(Duration::from_secs(10)), "the watchdog cuts");
    let err = m.check().expect_err("the watchdog saw it");
    assert!(err.to_string().contains("server thread ended"), "{err}");
    let err = m
        .finish(&dir.path().join("image"))
        .expect_err("finish reports it");
    assert!(matches!(err, powercut::Error::Watchdog { .. }), "{err}");
}
