//! FUSE requests translated to the model.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr,
    Request, TimeOrNow, WriteFlags,
};

use crate::model::{Inode, Kind, PAGE, State};
use crate::options::OpKind;

/// Nothing is cached by the kernel beyond one request, so that after a cut every
/// lookup and attribute request reaches the filesystem and gets EIO.
const TTL: Duration = Duration::ZERO;

/// State shared by the FUSE server thread and the controlling [`crate::PowerCut`].
pub(crate) struct Shared {
    state: Mutex<State>,
    cut_cv: Condvar,
    /// Milliseconds since `start` (plus one) at which the running request began; 0 when
    /// idle. The watchdog reads it.
    busy_since: AtomicU64,
    start: Instant,
}

impl Shared {
    pub(crate) fn new(state: State) -> Shared {
        Shared {
            state: Mutex::new(state),
            cut_cv: Condvar::new(),
            busy_since: AtomicU64::new(0),
            start: Instant::now(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one request against the state; wakes cut waiters if it cut.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.busy_since.store(now + 1, Ordering::SeqCst);
        let mut st = self.lock();
        let was_cut = st.cut.is_some();
        let out = f(&mut st);
        if !was_cut && st.cut.is_some() {
            self.cut_cv.notify_all();
        }
        drop(st);
        self.busy_since.store(0, Ordering::SeqCst);
        out
    }

    /// How long the running request has been running, if one is.
    pub(crate) fn busy_for(&self) -> Option<Duration> {
        let since = self.busy_since.load(Ordering::SeqCst);
        if since == 0 {
            return None;
        }
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        Some(Duration::from_millis(now.saturating_sub(since - 1)))
    }

    pub(crate) fn cut(&self, reason: String) {
        let mut st = self.lock();
        if st.cut(reason) {
            self.cut_cv.notify_all();
        }
    }

    pub(crate) fn wait_for_cut(&self, timeout: Duration) -> bool {
        let st = self.lock();
        let (st, _) = self
            .cut_cv
            .wait_timeout_while(st, timeout, |s| s.cut.is_none())
            .unwrap_or_else(|e| e.into_inner());
        st.cut.is_some()
    }

    /// Wakes every waiter (used when the mount goes away).
    pub(crate) fn wake(&self) {
        self.cut_cv.notify_all();
    }
}

pub(crate) struct Fs {
    pub(crate) shared: Arc<Shared>,
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
    }
}

fn attr(ino: u64, inode: &Inode) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size: inode.size(),
        blocks: inode.blocks(),
        atime: inode.atime,
        mtime: inode.mtime,
        ctime: inode.ctime,
        crtime: inode.ctime,
        kind: file_type(inode.kind),
        perm: inode.perm,
        nlink: inode.nlink(),
        uid: inode.uid,
        gid: inode.gid,
        rdev: 0,
        blksize: PAGE as u32,
        flags: 0,
    }
}

fn errno(e: i32) -> Errno {
    Errno::from_i32(e)
}

/// `O_SYNC` includes the `O_DSYNC` bit on Linux.
fn is_sync(flags: i32) -> bool {
    flags & libc::O_DSYNC != 0
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Fs {
    fn entry(&self, reply: ReplyEntry, f: impl FnOnce(&mut State) -> Result<u64, i32>) {
        let res = self.shared.with(|st| {
            let ino = f(st)?;
            Ok(attr(ino, st.get(ino)?))
        });
        match res {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn empty(&self, reply: ReplyEmpty, f: impl FnOnce(&mut State) -> Result<(), i32>) {
        match self.shared.with(f) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }
}

impl Filesystem for Fs {
    fn init(&mut self, _req: &Request, _config: &mut KernelConfig) -> std::io::Result<()> {
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.entry(reply, |st| st.lookup(parent.0, name));
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.shared.with(|st| st.forget(ino.0, nlookup));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let res = self.shared.with(|st| {
            st.live()?;
            Ok(attr(ino.0, st.get(ino.0)?))
        });
        match res {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let res = self.shared.with(|st| {
            if let Some(s) = size {
                st.truncate(ino.0, s)?;
            }
            st.setattr_meta(ino.0, mode, uid, gid, atime.map(time), mtime.map(time))?;
            Ok(attr(ino.0, st.get(ino.0)?))
        });
        match res {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.shared.with(|st| st.readlink(ino.0)) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG && mode & libc::S_IFMT != 0 {
            reply.error(Errno::EPERM);
            return;
        }
        let perm = (mode & !umask & 0o7777) as u16;
        self.entry(reply, |st| {
            st.create(
                OpKind::Create,
                parent.0,
                name,
                Kind::File,
                perm,
                req.uid(),
                req.gid(),
                None,
            )
        });
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let perm = (mode & !umask & 0o7777) as u16;
        self.entry(reply, |st| {
            st.create(
                OpKind::Mkdir,
                parent.0,
                name,
                Kind::Dir,
                perm,
                req.uid(),
                req.gid(),
                None,
            )
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.empty(reply, |st| st.remove(parent.0, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.empty(reply, |st| st.remove(parent.0, name, true));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        self.entry(reply, |st| {
            st.create(
                OpKind::Symlink,
                parent.0,
                link_name,
                Kind::Symlink,
                0o777,
                req.uid(),
                req.gid(),
                Some(target.as_os_str()),
            )
        });
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if !(flags - RenameFlags::RENAME_NOREPLACE).is_empty() {
            reply.error(Errno::EINVAL);
            return;
        }
        let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        self.empty(reply, |st| {
            st.rename(parent.0, name, newparent.0, newname, noreplace)
        });
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        self.entry(reply, |st| st.link(ino.0, newparent.0, newname));
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self.shared.with(|st| st.open(ino.0, is_sync(flags.0))) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.shared.with(|st| st.read(ino.0, offset, size)) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self
            .shared
            .with(|st| st.write(ino.0, fh.0, offset, data, is_sync(flags.0)))
        {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.empty(reply, |st| st.live());
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.shared.with(|st| st.release(fh.0));
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.empty(reply, |st| st.fsync(ino.0));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.shared.with(|st| st.open(ino.0, false)) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        match self.shared.with(|st| st.readdir(ino.0)) {
            Ok(entries) => {
                let skip = usize::try_from(offset).unwrap_or(usize::MAX);
                for (i, (child, kind, name)) in entries.iter().enumerate().skip(skip) {
                    if reply.add(INodeNo(*child), (i + 1) as u64, file_type(*kind), name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.shared.with(|st| st.release(fh.0));
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.empty(reply, |st| st.fsync(ino.0));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.shared.with(|st| st.live()) {
            // 1 TiB of 4 KiB blocks, all free.
            Ok(()) => reply.statfs(1 << 28, 1 << 28, 1 << 28, 1 << 24, 1 << 24, 4096, 255, 4096),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::from_i32(libc::ENODATA));
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        self.empty(reply, |st| {
            st.live().and_then(|()| st.get(ino.0).map(|_| ()))
        });
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let perm = (mode & !umask & 0o7777) as u16;
        let res = self.shared.with(|st| {
            let ino = st.create(
                OpKind::Create,
                parent.0,
                name,
                Kind::File,
                perm,
                req.uid(),
                req.gid(),
                None,
            )?;
            let fh = st.open(ino, is_sync(flags))?;
            Ok((attr(ino, st.get(ino)?), fh))
        });
        match res {
            Ok((a, fh)) => {
                reply.created(&TTL, &a, Generation(0), FileHandle(fh), FopenFlags::empty())
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        self.empty(reply, |st| st.fallocate(ino.0, offset, length, mode));
    }
}
