//! The in-memory filesystem: a volatile and a durable state per inode, sync points, the
//! cut, and the image written after it. No FUSE here; `fs.rs` translates requests.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::options::{DataMode, MetaMode, OpKind, Options, Trigger};

/// Page size of the model; also the unit of [`DataMode::KeepRandom`].
pub(crate) const PAGE: u64 = 4096;
/// The unit a torn write is cut at.
pub(crate) const SECTOR: u64 = 512;
/// Inode number of the root directory.
pub(crate) const ROOT: u64 = 1;

type Page = [u8; PAGE as usize];
type Pages = BTreeMap<u64, Arc<Page>>;

/// An errno answered to the kernel.
pub(crate) type Errno = i32;

/// splitmix64: small, seeded, reproducible.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
}

#[derive(Clone, Default)]
struct Data {
    pages: Pages,
    size: u64,
}

/// The last unsynced write of a file, with what its pages held before it.
struct LastWrite {
    offset: u64,
    end: u64,
    size_before: u64,
    before: Vec<(u64, Option<Arc<Page>>)>,
}

pub(crate) struct Inode {
    pub(crate) kind: Kind,
    pub(crate) perm: u16,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) atime: SystemTime,
    pub(crate) mtime: SystemTime,
    pub(crate) ctime: SystemTime,
    vol: Data,
    dur: Data,
    /// Pages written (or removed) since the file's last sync; only these can become
    /// durable. A failed sync empties it without copying ("fsyncgate").
    dirty: BTreeSet<u64>,
    last_write: Option<LastWrite>,
    pub(crate) target: OsString,
    pub(crate) ventries: BTreeMap<OsString, u64>,
    dentries: BTreeMap<OsString, u64>,
    /// Directories only: where the directory lives now (for path patterns).
    parent: u64,
    name: OsString,
    vlinks: u32,
    dlinks: u32,
    lookups: u64,
    opens: u32,
}

impl Inode {
    fn new(kind: Kind, perm: u16, uid: u32, gid: u32) -> Inode {
        let now = SystemTime::now();
        Inode {
            kind,
            perm,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
            vol: Data::default(),
            dur: Data::default(),
            dirty: BTreeSet::new(),
            last_write: None,
            target: OsString::new(),
            ventries: BTreeMap::new(),
            dentries: BTreeMap::new(),
            parent: ROOT,
            name: OsString::new(),
            vlinks: 0,
            dlinks: 0,
            lookups: 0,
            opens: 0,
        }
    }

    pub(crate) fn size(&self) -> u64 {
        match self.kind {
            Kind::File => self.vol.size,
            Kind::Symlink => self.target.len() as u64,
            Kind::Dir => PAGE,
        }
    }

    pub(crate) fn blocks(&self) -> u64 {
        self.vol.pages.len() as u64 * (PAGE / 512)
    }

    pub(crate) fn nlink(&self) -> u32 {
        match self.kind {
            Kind::Dir => 2,
            _ => self.vlinks,
        }
    }
}

/// An open file handle.
struct Handle {
    ino: u64,
    sync: bool,
}

/// Counts of the image written after a cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Why the power went out.
    pub reason: String,
    /// Sync points seen before the cut (see [`crate::PowerCut::fsyncs`]).
    pub fsyncs: u64,
    /// Regular files in the image (hard links count once per name).
    pub files: u64,
    /// Directories in the image, the root excluded.
    pub dirs: u64,
    /// Symbolic links in the image.
    pub symlinks: u64,
    /// Sum of the sizes of the regular files in the image.
    pub bytes: u64,
    /// Unsynced pages that did not survive.
    pub pages_dropped: u64,
    /// Unsynced pages that survived (whole).
    pub pages_kept: u64,
    /// Writes cut at a 512-byte boundary ([`DataMode::TearLast`]).
    pub writes_torn: u64,
}

/// Memory held by the filesystem's file pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageStats {
    /// Pages of the volatile state (what processes read).
    pub volatile: u64,
    /// Pages of the durable state.
    pub durable: u64,
    /// Distinct pages in memory: pages shared by both states count once.
    pub allocated: u64,
}

pub(crate) struct State {
    pub(crate) inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    /// Directories whose volatile entries may differ from their durable ones.
    ns_dirty: BTreeSet<u64>,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    pub(crate) cut: Option<String>,
    pub(crate) fsyncs: u64,
    opts: Options,
}

fn eio<T>() -> Result<T, Errno> {
    Err(libc::EIO)
}

impl State {
    pub(crate) fn new(opts: Options) -> State {
        let mut root = Inode::new(Kind::Dir, 0o755, 0, 0);
        root.vlinks = 1;
        root.dlinks = 1;
        let mut inodes = BTreeMap::new();
        inodes.insert(ROOT, root);
        State {
            inodes,
            next_ino: ROOT + 1,
            ns_dirty: BTreeSet::new(),
            handles: HashMap::new(),
            next_fh: 1,
            cut: None,
            fsyncs: 0,
            opts,
        }
    }

    /// Every operation starts here: after a cut everything is EIO.
    pub(crate) fn live(&self) -> Result<(), Errno> {
        if self.cut.is_some() { eio() } else { Ok(()) }
    }

    /// Cuts the power (first reason wins). Returns whether this call cut.
    pub(crate) fn cut(&mut self, reason: String) -> bool {
        if self.cut.is_some() {
            return false;
        }
        self.cut = Some(reason);
        true
    }

    pub(crate) fn get(&self, ino: u64) -> Result<&Inode, Errno> {
        self.inodes.get(&ino).ok_or(libc::ENOENT)
    }

    fn get_mut(&mut self, ino: u64) -> Result<&mut Inode, Errno> {
        self.inodes.get_mut(&ino).ok_or(libc::ENOENT)
    }

    fn dir(&self, ino: u64) -> Result<&Inode, Errno> {
        let inode = self.get(ino)?;
        if inode.kind != Kind::Dir {
            return Err(libc::ENOTDIR);
        }
        Ok(inode)
    }

    /// The path of `name` in directory `parent`, from the mount's root: `/d/name`.
    fn path_of(&self, parent: u64, name: &OsStr) -> String {
        let mut parts = vec![name.to_string_lossy().into_owned()];
        let mut cur = parent;
        let mut guard = 0;
        while cur != ROOT && guard < 4096 {
            let Some(inode) = self.inodes.get(&cur) else {
                break;
            };
            parts.push(inode.name.to_string_lossy().into_owned());
            cur = inode.parent;
            guard += 1;
        }
        parts.push(String::new());
        parts.reverse();
        parts.join("/")
    }

    /// A [`Trigger::OnOp`] match cuts before the operation takes effect.
    fn before_op(&mut self, op: OpKind, parent: u64, name: &OsStr) -> Result<(), Errno> {
        self.live()?;
        if let Trigger::OnOp {
            op: want,
            name_contains,
        } = &self.opts.trigger
            && (*want == op || *want == OpKind::Any)
        {
            let path = self.path_of(parent, name);
            if path.contains(name_contains.as_str()) {
                let reason = format!("{op:?} of {path:?} matched {name_contains:?}");
                self.cut(reason);
                return eio();
            }
        }
        Ok(())
    }

    pub(crate) fn lookup(&mut self, parent: u64, name: &OsStr) -> Result<u64, Errno> {
        self.live()?;
        let ino = *self.dir(parent)?.ventries.get(name).ok_or(libc::ENOENT)?;
        self.get_mut(ino)?.lookups += 1;
        Ok(ino)
    }

    pub(crate) fn forget(&mut self, ino: u64, n: u64) {
        if let Some(inode) = self.inodes.get_mut(&ino) {
            inode.lookups = inode.lookups.saturating_sub(n);
        }
        self.maybe_free(ino);
    }

    /// Drops an inode nothing refers to any more (no name in either state, no kernel
    /// reference, no open handle), and what its durable entries held.
    fn maybe_free(&mut self, ino: u64) {
        let mut work = vec![ino];
        while let Some(ino) = work.pop() {
            let free = match self.inodes.get(&ino) {
                Some(i) => {
                    ino != ROOT && i.vlinks == 0 && i.dlinks == 0 && i.lookups == 0 && i.opens == 0
                }
                None => false,
            };
            if !free {
                continue;
            }
            if let Some(inode) = self.inodes.remove(&ino) {
                self.ns_dirty.remove(&ino);
                for child in inode.dentries.values().chain(inode.ventries.values()) {
                    work.push(*child);
                }
                for child in inode.dentries.values() {
                    if let Some(c) = self.inodes.get_mut(child) {
                        c.dlinks = c.dlinks.saturating_sub(1);
                    }
                }
                for child in inode.ventries.values() {
                    if let Some(c) = self.inodes.get_mut(child) {
                        c.vlinks = c.vlinks.saturating_sub(1);
                    }
                }
            }
        }
    }

    fn touch_dir(&mut self, dir: u64) {
        self.ns_dirty.insert(dir);
        if let Some(d) = self.inodes.get_mut(&dir) {
            let now = SystemTime::now();
            d.mtime = now;
            d.ctime = now;
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create(
        &mut self,
        op: OpKind,
        parent: u64,
        name: &OsStr,
        kind: Kind,
        perm: u16,
        uid: u32,
        gid: u32,
        target: Option<&OsStr>,
    ) -> Result<u64, Errno> {
        self.before_op(op, parent, name)?;
        if self.dir(parent)?.ventries.contains_key(name) {
            return Err(libc::EEXIST);
        }
        if name.len() > 255 {
            return Err(libc::ENAMETOOLONG);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let mut inode = Inode::new(kind, perm, uid, gid);
        inode.vlinks = 1;
        inode.lookups = 1;
        inode.parent = parent;
        inode.name = name.to_owned();
        if let Some(t) = target {
            inode.target = t.to_owned();
        }
        self.inodes.insert(ino, inode);
        self.get_mut(parent)?.ventries.insert(name.to_owned(), ino);
        self.touch_dir(parent);
        Ok(ino)
    }

    pub(crate) fn link(&mut self, ino: u64, parent: u64, name: &OsStr) -> Result<u64, Errno> {
        self.before_op(OpKind::Link, parent, name)?;
        if self.get(ino)?.kind == Kind::Dir {
            return Err(libc::EPERM);
        }
        if self.dir(parent)?.ventries.contains_key(name) {
            return Err(libc::EEXIST);
        }
        self.get_mut(parent)?.ventries.insert(name.to_owned(), ino);
        let inode = self.get_mut(ino)?;
        inode.vlinks += 1;
        inode.lookups += 1;
        inode.ctime = SystemTime::now();
        self.touch_dir(parent);
        Ok(ino)
    }

    pub(crate) fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> Result<(), Errno> {
        let op = if dir { OpKind::Rmdir } else { OpKind::Unlink };
        self.before_op(op, parent, name)?;
        let ino = *self.dir(parent)?.ventries.get(name).ok_or(libc::ENOENT)?;
        let inode = self.get(ino)?;
        match (dir, inode.kind == Kind::Dir) {
            (true, false) => return Err(libc::ENOTDIR),
            (false, true) => return Err(libc::EISDIR),
            (true, true) if !inode.ventries.is_empty() => return Err(libc::ENOTEMPTY),
            _ => {}
        }
        self.get_mut(parent)?.ventries.remove(name);
        let inode = self.get_mut(ino)?;
        inode.vlinks = inode.vlinks.saturating_sub(1);
        inode.ctime = SystemTime::now();
        self.touch_dir(parent);
        self.maybe_free(ino);
        Ok(())
    }

    pub(crate) fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        noreplace: bool,
    ) -> Result<(), Errno> {
        self.before_op(OpKind::Rename, newparent, newname)?;
        let ino = *self.dir(parent)?.ventries.get(name).ok_or(libc::ENOENT)?;
        self.dir(newparent)?;
        let moving_dir = self.get(ino)?.kind == Kind::Dir;
        if moving_dir {
            // A directory cannot move below itself.
            let mut cur = newparent;
            let mut guard = 0;
            while cur != ROOT && guard < 4096 {
                if cur == ino {
                    return Err(libc::EINVAL);
                }
                cur = self.get(cur)?.parent;
                guard += 1;
            }
        }
        if let Some(&old) = self.dir(newparent)?.ventries.get(newname) {
            if old == ino {
                return Ok(());
            }
            if noreplace {
                return Err(libc::EEXIST);
            }
            let victim = self.get(old)?;
            match (moving_dir, victim.kind == Kind::Dir) {
                (true, false) => return Err(libc::ENOTDIR),
                (false, true) => return Err(libc::EISDIR),
                (true, true) if !victim.ventries.is_empty() => return Err(libc::ENOTEMPTY),
                _ => {}
            }
            self.get_mut(newparent)?.ventries.remove(newname);
            let v = self.get_mut(old)?;
            v.vlinks = v.vlinks.saturating_sub(1);
            self.maybe_free(old);
        }
        self.get_mut(parent)?.ventries.remove(name);
        self.get_mut(newparent)?
            .ventries
            .insert(newname.to_owned(), ino);
        let inode = self.get_mut(ino)?;
        inode.ctime = SystemTime::now();
        if moving_dir {
            inode.parent = newparent;
            inode.name = newname.to_owned();
        }
        self.touch_dir(parent);
        self.touch_dir(newparent);
        Ok(())
    }

    pub(crate) fn open(&mut self, ino: u64, sync: bool) -> Result<u64, Errno> {
        self.live()?;
        self.get_mut(ino)?.opens += 1;
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, Handle { ino, sync });
        Ok(fh)
    }

    /// Releases a handle; works after a cut too, so memory is freed.
    pub(crate) fn release(&mut self, fh: u64) {
        if let Some(h) = self.handles.remove(&fh) {
            if let Some(inode) = self.inodes.get_mut(&h.ino) {
                inode.opens = inode.opens.saturating_sub(1);
            }
            self.maybe_free(h.ino);
        }
    }

    pub(crate) fn read(&mut self, ino: u64, offset: u64, len: u32) -> Result<Vec<u8>, Errno> {
        self.live()?;
        let inode = self.get(ino)?;
        if inode.kind != Kind::File {
            return Err(libc::EISDIR);
        }
        let end = inode.vol.size.min(offset.saturating_add(u64::from(len)));
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut out = vec![0u8; (end - offset) as usize];
        let mut pos = offset;
        while pos < end {
            let idx = pos / PAGE;
            let in_page = (pos % PAGE) as usize;
            let n = ((PAGE - pos % PAGE).min(end - pos)) as usize;
            if let Some(page) = inode.vol.pages.get(&idx) {
                let at = (pos - offset) as usize;
                out[at..at + n].copy_from_slice(&page[in_page..in_page + n]);
            }
            pos += n as u64;
        }
        Ok(out)
    }

    /// A write; through a sync handle (or with `O_DSYNC` in the write's own flags) the
    /// pages it wrote and the size are durable when it returns.
    pub(crate) fn write(
        &mut self,
        ino: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
        dsync_flag: bool,
    ) -> Result<u32, Errno> {
        self.live()?;
        let sync = dsync_flag || self.handles.get(&fh).is_some_and(|h| h.sync);
        let tear = self.opts.data == DataMode::TearLast;
        let inode = self.get_mut(ino)?;
        if inode.kind != Kind::File {
            return Err(libc::EISDIR);
        }
        let len = u32::try_from(data.len()).map_err(|_| libc::EINVAL)?;
        if data.is_empty() {
            return Ok(0);
        }
        let end = offset.checked_add(data.len() as u64).ok_or(libc::EFBIG)?;
        let first = offset / PAGE;
        let last = (end - 1) / PAGE;
        inode.last_write = if tear {
            Some(LastWrite {
                offset,
                end,
                size_before: inode.vol.size,
                before: (first..=last)
                    .map(|i| (i, inode.vol.pages.get(&i).cloned()))
                    .collect(),
            })
        } else {
            None
        };
        let mut pos = offset;
        while pos < end {
            let idx = pos / PAGE;
            let in_page = (pos % PAGE) as usize;
            let n = ((PAGE - pos % PAGE).min(end - pos)) as usize;
            let at = (pos - offset) as usize;
            let page = inode
                .vol
                .pages
                .entry(idx)
                .or_insert_with(|| Arc::new([0u8; PAGE as usize]));
            Arc::make_mut(page)[in_page..in_page + n].copy_from_slice(&data[at..at + n]);
            inode.dirty.insert(idx);
            pos += n as u64;
        }
        inode.vol.size = inode.vol.size.max(end);
        let now = SystemTime::now();
        inode.mtime = now;
        inode.ctime = now;
        if sync {
            // Durable before the reply. Not a sync point of its own: the kernel follows
            // every O_SYNC/O_DSYNC write with an fsync request, which is the counted one.
            self.commit_file(ino, Some((first, last)));
            if self.opts.meta == MetaMode::Journal {
                self.commit_all_dirs();
            }
        }
        Ok(len)
    }

    /// Sets the volatile size: pages past it go, the tail of the last one is zeroed.
    pub(crate) fn truncate(&mut self, ino: u64, size: u64) -> Result<(), Errno> {
        self.live()?;
        let inode = self.get_mut(ino)?;
        if inode.kind != Kind::File {
            return Err(libc::EISDIR);
        }
        if size < inode.vol.size {
            zero_range(inode, size, inode.vol.size.div_ceil(PAGE) * PAGE);
        }
        inode.vol.size = size;
        inode.last_write = None;
        let now = SystemTime::now();
        inode.mtime = now;
        inode.ctime = now;
        Ok(())
    }

    pub(crate) fn fallocate(
        &mut self,
        ino: u64,
        offset: u64,
        len: u64,
        mode: i32,
    ) -> Result<(), Errno> {
        self.live()?;
        let inode = self.get_mut(ino)?;
        if inode.kind != Kind::File {
            return Err(libc::ENODEV);
        }
        let end = offset.checked_add(len).ok_or(libc::EFBIG)?;
        let keep = mode & libc::FALLOC_FL_KEEP_SIZE != 0;
        let punch = mode & libc::FALLOC_FL_PUNCH_HOLE != 0;
        let zero = mode & libc::FALLOC_FL_ZERO_RANGE != 0;
        let known =
            libc::FALLOC_FL_KEEP_SIZE | libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_ZERO_RANGE;
        if mode & !known != 0 || (punch && !keep) || (punch && zero) {
            return Err(libc::EOPNOTSUPP);
        }
        if punch || zero {
            let stop = end.min(inode.vol.size);
            if offset < stop {
                zero_range(inode, offset, stop);
            }
            inode.last_write = None;
        }
        if !keep && end > inode.vol.size {
            inode.vol.size = end;
            inode.last_write = None;
        }
        Ok(())
    }

    pub(crate) fn fsync(&mut self, ino: u64) -> Result<(), Errno> {
        self.live()?;
        let kind = self.get(ino)?.kind;
        let what = if kind == Kind::Dir {
            SyncOf::Dir(ino)
        } else {
            SyncOf::File(ino)
        };
        self.sync_point(what)
    }

    /// Counts a sync point; makes it durable (or fails it); cuts after the N-th.
    fn sync_point(&mut self, what: SyncOf) -> Result<(), Errno> {
        self.fsyncs += 1;
        let n = self.fsyncs;
        if self.opts.fail_fsync == Some(n) {
            // Linux marks the pages clean although they never reached the disk.
            match what {
                SyncOf::File(ino) => {
                    if let Some(i) = self.inodes.get_mut(&ino) {
                        i.dirty.clear();
                        i.last_write = None;
                    }
                }
                SyncOf::Dir(_) => {}
            }
            return eio();
        }
        match what {
            SyncOf::File(ino) => {
                self.commit_file(ino, None);
                if self.opts.meta == MetaMode::Journal {
                    self.commit_all_dirs();
                }
            }
            SyncOf::Dir(ino) => match self.opts.meta {
                MetaMode::Posix => self.commit_dir(ino),
                MetaMode::Journal => self.commit_all_dirs(),
            },
        }
        if let Trigger::AfterFsyncs(k) = self.opts.trigger
            && n >= k
        {
            self.cut(format!("after sync point {n}"));
        }
        Ok(())
    }

    fn commit_file(&mut self, ino: u64, range: Option<(u64, u64)>) {
        let Some(inode) = self.inodes.get_mut(&ino) else {
            return;
        };
        let pages: Vec<u64> = match range {
            Some((a, b)) => inode.dirty.range(a..=b).copied().collect(),
            None => inode.dirty.iter().copied().collect(),
        };
        for idx in pages {
            inode.dirty.remove(&idx);
            match inode.vol.pages.get(&idx) {
                Some(p) => {
                    inode.dur.pages.insert(idx, p.clone());
                }
                None => {
                    inode.dur.pages.remove(&idx);
                }
            }
        }
        inode.dur.size = inode.vol.size;
        inode.last_write = None;
        // Pages past the durable size hold nothing durable.
        let cutoff = inode.dur.size.div_ceil(PAGE);
        let stale: Vec<u64> = inode.dur.pages.range(cutoff..).map(|(k, _)| *k).collect();
        for k in stale {
            inode.dur.pages.remove(&k);
        }
    }

    fn commit_dir(&mut self, dir: u64) {
        let Some(inode) = self.inodes.get_mut(&dir) else {
            return;
        };
        if inode.kind != Kind::Dir {
            return;
        }
        let old = std::mem::replace(&mut inode.dentries, inode.ventries.clone());
        let new = inode.dentries.clone();
        self.ns_dirty.remove(&dir);
        for ino in old.values() {
            if let Some(i) = self.inodes.get_mut(ino) {
                i.dlinks = i.dlinks.saturating_sub(1);
            }
        }
        for ino in new.values() {
            if let Some(i) = self.inodes.get_mut(ino) {
                i.dlinks += 1;
            }
        }
        for ino in old.values() {
            self.maybe_free(*ino);
        }
    }

    fn commit_all_dirs(&mut self) {
        let dirs: Vec<u64> = self.ns_dirty.iter().copied().collect();
        for d in dirs {
            self.commit_dir(d);
        }
    }

    pub(crate) fn setattr_meta(
        &mut self,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        atime: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> Result<(), Errno> {
        self.live()?;
        let inode = self.get_mut(ino)?;
        if let Some(m) = mode {
            inode.perm = (m & 0o7777) as u16;
        }
        if let Some(u) = uid {
            inode.uid = u;
        }
        if let Some(g) = gid {
            inode.gid = g;
        }
        if let Some(t) = atime {
            inode.atime = t;
        }
        if let Some(t) = mtime {
            inode.mtime = t;
        }
        inode.ctime = SystemTime::now();
        Ok(())
    }

    pub(crate) fn page_stats(&self) -> PageStats {
        let mut seen: HashSet<*const Page> = HashSet::new();
        let mut stats = PageStats::default();
        for inode in self.inodes.values() {
            stats.volatile += inode.vol.pages.len() as u64;
            stats.durable += inode.dur.pages.len() as u64;
            for p in inode.vol.pages.values().chain(inode.dur.pages.values()) {
                seen.insert(Arc::as_ptr(p));
            }
        }
        stats.allocated = seen.len() as u64;
        stats
    }

    /// What a file holds after the power came back, per the data mode.
    fn image_data(&self, inode: &Inode, rng: &mut Rng, report: &mut CutReport) -> Data {
        let mut out = inode.dur.clone();
        match self.opts.data {
            DataMode::DropUnsynced => {
                report.pages_dropped += inode.dirty.len() as u64;
            }
            DataMode::KeepRandom => {
                for &idx in &inode.dirty {
                    if rng.next() & 1 == 1 {
                        report.pages_kept += 1;
                        match inode.vol.pages.get(&idx) {
                            Some(p) => {
                                out.pages.insert(idx, p.clone());
                                let end = ((idx + 1) * PAGE).min(inode.vol.size);
                                out.size = out.size.max(end);
                            }
                            None => {
                                out.pages.remove(&idx);
                            }
                        }
                    } else {
                        report.pages_dropped += 1;
                    }
                }
            }
            DataMode::TearLast => {
                for &idx in &inode.dirty {
                    match inode.vol.pages.get(&idx) {
                        Some(p) => out.pages.insert(idx, p.clone()),
                        None => out.pages.remove(&idx),
                    };
                }
                report.pages_kept += inode.dirty.len() as u64;
                out.size = inode.vol.size;
                if let Some(w) = &inode.last_write {
                    report.writes_torn += 1;
                    let first = w.offset.div_ceil(SECTOR) * SECTOR;
                    let cut = if first < w.end {
                        let choices = (w.end - 1 - first) / SECTOR + 1;
                        first + (rng.next() % choices) * SECTOR
                    } else {
                        w.offset
                    };
                    for (idx, before) in &w.before {
                        let start = idx * PAGE;
                        let from = cut.max(start);
                        let to = w.end.min(start + PAGE);
                        if from >= to {
                            continue;
                        }
                        let mut page: Page = match out.pages.get(idx) {
                            Some(p) => **p,
                            None => [0u8; PAGE as usize],
                        };
                        let a = (from - start) as usize;
                        let b = (to - start) as usize;
                        match before {
                            Some(old) => page[a..b].copy_from_slice(&old[a..b]),
                            None => page[a..b].fill(0),
                        }
                        out.pages.insert(*idx, Arc::new(page));
                    }
                    if w.end > w.size_before && out.size == w.end {
                        out.size = w.size_before.max(cut);
                    }
                }
            }
        }
        out
    }

    /// Writes the durable state as a plain directory tree at `dest`.
    pub(crate) fn write_image(&self, dest: &Path) -> io::Result<CutReport> {
        let mut report = CutReport {
            reason: self.cut.clone().unwrap_or_default(),
            fsyncs: self.fsyncs,
            ..CutReport::default()
        };
        // Which inodes the durable namespace reaches, and where.
        let mut places: Vec<(PathBuf, u64)> = Vec::new();
        let mut seen_dirs: HashSet<u64> = HashSet::from([ROOT]);
        let mut stack = vec![(dest.to_path_buf(), ROOT)];
        let mut dir_perms: Vec<(PathBuf, u16)> = Vec::new();
        while let Some((path, dir)) = stack.pop() {
            let Some(inode) = self.inodes.get(&dir) else {
                continue;
            };
            for (name, &child) in &inode.dentries {
                let Some(c) = self.inodes.get(&child) else {
                    continue;
                };
                let p = path.join(name);
                if c.kind == Kind::Dir {
                    // A directory the durable namespace lists twice (moved, only one
                    // side synced) is written once.
                    if seen_dirs.insert(child) {
                        places.push((p.clone(), child));
                        stack.push((p, child));
                    }
                } else {
                    places.push((p, child));
                }
            }
        }
        // Image data in inode order, so random choices do not depend on names.
        let mut rng = Rng::new(self.opts.seed);
        let reached: BTreeSet<u64> = places.iter().map(|(_, i)| *i).collect();
        let mut datas: HashMap<u64, Data> = HashMap::new();
        for ino in &reached {
            if let Some(inode) = self.inodes.get(ino)
                && inode.kind == Kind::File
            {
                datas.insert(*ino, self.image_data(inode, &mut rng, &mut report));
            }
        }
        places.sort_by(|a, b| a.0.cmp(&b.0));
        let mut written: HashMap<u64, PathBuf> = HashMap::new();
        for (path, ino) in &places {
            let Some(inode) = self.inodes.get(ino) else {
                continue;
            };
            match inode.kind {
                Kind::Dir => {
                    fs::create_dir(path)?;
                    dir_perms.push((path.clone(), inode.perm));
                    report.dirs += 1;
                }
                Kind::Symlink => {
                    std::os::unix::fs::symlink(&inode.target, path)?;
                    report.symlinks += 1;
                }
                Kind::File => {
                    report.files += 1;
                    if let Some(first) = written.get(ino) {
                        fs::hard_link(first, path)?;
                        report.bytes += datas.get(ino).map_or(0, |d| d.size);
                        continue;
                    }
                    let file = fs::File::create(path)?;
                    if let Some(d) = datas.get(ino) {
                        for (idx, page) in &d.pages {
                            let start = idx * PAGE;
                            if start >= d.size {
                                break;
                            }
                            let n = (d.size - start).min(PAGE) as usize;
                            file.write_all_at(&page[..n], start)?;
                        }
                        file.set_len(d.size)?;
                        report.bytes += d.size;
                    }
                    file.set_permissions(fs::Permissions::from_mode(u32::from(inode.perm)))?;
                    written.insert(*ino, path.clone());
                }
            }
        }
        for (path, perm) in dir_perms.into_iter().rev() {
            fs::set_permissions(path, fs::Permissions::from_mode(u32::from(perm)))?;
        }
        Ok(report)
    }

    pub(crate) fn readdir(&self, ino: u64) -> Result<Vec<(u64, Kind, OsString)>, Errno> {
        self.live()?;
        let dir = self.dir(ino)?;
        let mut out = vec![
            (ino, Kind::Dir, OsString::from(".")),
            (dir.parent.max(ROOT), Kind::Dir, OsString::from("..")),
        ];
        for (name, &child) in &dir.ventries {
            let kind = self.inodes.get(&child).map_or(Kind::File, |c| c.kind);
            out.push((child, kind, name.clone()));
        }
        Ok(out)
    }

    pub(crate) fn readlink(&self, ino: u64) -> Result<Vec<u8>, Errno> {
        self.live()?;
        let inode = self.get(ino)?;
        if inode.kind != Kind::Symlink {
            return Err(libc::EINVAL);
        }
        Ok(inode.target.as_bytes().to_vec())
    }
}

#[derive(Clone, Copy)]
enum SyncOf {
    File(u64),
    Dir(u64),
}

/// Zeroes `[from, to)` of the volatile data (whole pages become holes) and marks the
/// pages dirty.
fn zero_range(inode: &mut Inode, from: u64, to: u64) {
    let mut pos = from;
    while pos < to {
        let idx = pos / PAGE;
        let start = idx * PAGE;
        let stop = (start + PAGE).min(to);
        if pos == start && stop == start + PAGE {
            inode.vol.pages.remove(&idx);
        } else if let Some(page) = inode.vol.pages.get_mut(&idx) {
            let a = (pos - start) as usize;
            let b = (stop - start) as usize;
            Arc::make_mut(page)[a..b].fill(0);
        }
        inode.dirty.insert(idx);
        pos = stop;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(meta: MetaMode, data: DataMode, seed: u64) -> State {
        State::new(Options {
            meta,
            data,
            seed,
            ..Options::default()
        })
    }

    fn file(st: &mut State, parent: u64, name: &str) -> u64 {
        st.create(
            OpKind::Create,
            parent,
            OsStr::new(name),
            Kind::File,
            0o644,
            0,
            0,
            None,
        )
        .expect("create")
    }

    fn image(st: &State) -> (tempfile::TempDir, CutReport) {
        let dir = tempfile::tempdir().expect("tempdir");
        let report = st.write_image(dir.path()).expect("image");
        (dir, report)
    }

    #[test]
    fn a_last_write_inside_one_sector_is_dropped_whole() {
        let mut st = state(MetaMode::Posix, DataMode::TearLast, 1);
        let f = file(&mut st, ROOT, "f");
        st.write(f, 0, 0, &[b'a'; 1024], false).expect("write");
        st.fsync(f).expect("fsync");
        st.fsync(ROOT).expect("fsync dir");
        st.write(f, 0, 10, &[b'c'; 10], false).expect("write");
        let (dir, report) = image(&st);
        assert_eq!(report.writes_torn, 1);
        assert_eq!(fs::read(dir.path().join("f")).expect("f"), vec![b'a'; 1024]);
    }

    #[test]
    fn a_torn_append_leaves_the_size_at_the_tear() {
        let mut sizes = BTreeSet::new();
        for seed in 0..16 {
            let mut st = state(MetaMode::Posix, DataMode::TearLast, seed);
            let f = file(&mut st, ROOT, "f");
            st.fsync(ROOT).expect("fsync dir");
            st.write(f, 0, 0, &[b'c'; 1500], false).expect("write");
            let (dir, _) = image(&st);
            let data = fs::read(dir.path().join("f")).expect("f");
            assert!(data.iter().all(|&x| x == b'c'));
            assert!([0, 512, 1024].contains(&data.len()), "{}", data.len());
            sizes.insert(data.len());
        }
        assert!(sizes.len() > 1, "{sizes:?}");
    }

    #[test]
    fn kept_random_pages_extend_the_size_to_their_end() {
        for seed in 0..8 {
            let mut st = state(MetaMode::Journal, DataMode::KeepRandom, seed);
            let f = file(&mut st, ROOT, "f");
            st.fsync(f).expect("fsync");
            st.write(f, 0, 0, &[1; 4096], false).expect("write");
            st.write(f, 0, 4096, &[2; 100], false).expect("write");
            let (dir, report) = image(&st);
            let data = fs::read(dir.path().join("f")).expect("f");
            assert_eq!(report.pages_kept + report.pages_dropped, 2);
            match data.len() {
                0 => assert_eq!(report.pages_kept, 0),
                4096 => assert!(data.iter().all(|&x| x == 1)),
                4196 => assert!(data[4096..].iter().all(|&x| x == 2)),
                n => panic!("size {n}"),
            }
        }
    }

    #[test]
    fn an_unlinked_file_keeps_its_durable_name_and_data() {
        let mut st = state(MetaMode::Posix, DataMode::DropUnsynced, 0);
        let f = file(&mut st, ROOT, "f");
        st.write(f, 0, 0, b"kept", false).expect("write");
        st.fsync(f).expect("fsync");
        st.fsync(ROOT).expect("fsync dir");
        st.remove(ROOT, OsStr::new("f"), false).expect("unlink");
        st.forget(f, 1);
        let (dir, _) = image(&st);
        assert_eq!(fs::read(dir.path().join("f")).expect("f"), b"kept");
        // Once the removal is durable the inode is freed.
        st.fsync(ROOT).expect("fsync dir");
        assert!(!st.inodes.contains_key(&f));
        let (dir, _) = image(&st);
        assert!(!dir.path().join("f").exists());
    }

    #[test]
    fn a_directory_moved_with_only_the_target_synced_is_written_once() {
        let mut st = state(MetaMode::Posix, DataMode::DropUnsynced, 0);
        let mk = |st: &mut State, parent, name: &str| {
            st.create(
                OpKind::Mkdir,
                parent,
                OsStr::new(name),
                Kind::Dir,
                0o755,
                0,
                0,
                None,
            )
            .expect("mkdir")
        };
        let a = mk(&mut st, ROOT, "a");
        let b = mk(&mut st, ROOT, "b");
        let d = mk(&mut st, a, "d");
        st.fsync(ROOT).expect("sync root");
        st.fsync(a).expect("sync a");
        st.rename(a, OsStr::new("d"), b, OsStr::new("d"), false)
            .expect("rename");
        st.fsync(b).expect("sync b");
        assert_eq!(st.path_of(d, OsStr::new("x")), "/b/d/x");
        let (_dir, report) = image(&st);
        assert_eq!(report.dirs, 3, "a, b and d once");
    }

    #[test]
    fn a_matching_operation_cuts_before_it_takes_effect() {
        let mut st = State::new(Options {
            trigger: Trigger::OnOp {
                op: OpKind::Create,
                name_contains: "gen-".to_owned(),
            },
            ..Options::default()
        });
        file(&mut st, ROOT, "a");
        let err = st.create(
            OpKind::Create,
            ROOT,
            OsStr::new("gen-2"),
            Kind::File,
            0o644,
            0,
            0,
            None,
        );
        assert_eq!(err, Err(libc::EIO));
        assert!(st.cut.is_some());
        assert!(
            !st.get(ROOT)
                .expect("root")
                .ventries
                .contains_key(OsStr::new("gen-2"))
        );
        assert_eq!(st.lookup(ROOT, OsStr::new("a")), Err(libc::EIO));
    }
}
