//! The tracing spans of a store's slow paths (open, close, a checkpoint that fsyncs,
//! export, restore), and the byte counts that export and restore report.
//!
//! The apply path has no span: it is the hot path, and it is measured by the
//! `metrics` feature's counters and histogram instead (see [`crate::metrics`]).

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::path::Path;

use tracing::field::Empty;
use tracing::span::EnteredSpan;

use crate::metrics::{self, Started};
use crate::snapshot::SnapshotHeader;

/// Enters the span of opening a store; [`opened`] records the applied index found. Hands
/// the metrics' descriptions to the recorder, so that an exporter prints them.
pub(crate) fn open(engine: &'static str, dir: &Path) -> EnteredSpan {
    metrics::describe();
    tracing::info_span!("open", engine, dir = %dir.display(), index = Empty).entered()
}

/// Records the applied index found by an open on the open span, which is the current
/// one unless the subscriber filtered it out: then the caller's span is current, and
/// its own `index` field must not be overwritten.
pub(crate) fn opened(applied_index: Option<u64>) {
    let span = tracing::Span::current();
    let is_open_span = span
        .metadata()
        .is_some_and(|meta| meta.name() == "open" && meta.target() == module_path!());
    if is_open_span {
        span.record("index", applied_index);
    }
}

/// Enters the span of closing a store: its final sync and the engine's close.
pub(crate) fn close(engine: &'static str, dir: &Path) -> EnteredSpan {
    tracing::info_span!("close", engine, dir = %dir.display()).entered()
}

/// Enters the span of a checkpoint that fsyncs to make `index` durable.
pub(crate) fn checkpoint(engine: &'static str, dir: &Path, index: u64) -> EnteredSpan {
    tracing::info_span!("checkpoint", engine, dir = %dir.display(), index).entered()
}

/// Which way a snapshot stream goes.
#[derive(Clone, Copy, Debug)]
enum TransferKind {
    Export,
    Restore,
}

/// One export or restore under way: its span, entered until it ends, when it started,
/// and the bytes of the stream so far.
pub(crate) struct SnapshotTransfer {
    kind: TransferKind,
    engine: &'static str,
    span: EnteredSpan,
    started: Started,
    bytes: Cell<u64>,
}

impl SnapshotTransfer {
    /// Starts observing an export of the store in `dir`.
    pub(crate) fn export(engine: &'static str, dir: &Path) -> Self {
        let span = tracing::info_span!("export", engine, dir = %dir.display(), index = Empty, records = Empty, bytes = Empty);
        Self::start(TransferKind::Export, engine, span.entered())
    }

    /// Starts observing a restore into the store in `dir`.
    pub(crate) fn restore(engine: &'static str, dir: &Path) -> Self {
        let span = tracing::info_span!("restore", engine, dir = %dir.display(), index = Empty, records = Empty, bytes = Empty);
        Self::start(TransferKind::Restore, engine, span.entered())
    }

    fn start(kind: TransferKind, engine: &'static str, span: EnteredSpan) -> Self {
        Self {
            kind,
            engine,
            span,
            started: Started::now(),
            bytes: Cell::new(0),
        }
    }

    /// `stream`, counting the bytes read from or written to it as the snapshot's.
    pub(crate) fn counted<T>(&self, stream: T) -> Counted<'_, T> {
        Counted {
            inner: stream,
            bytes: &self.bytes,
        }
    }

    /// Records a transfer that succeeded: on its span, and in the metrics.
    pub(crate) fn finished(self, header: &SnapshotHeader) {
        let bytes = self.bytes.get();
        self.span.record("index", header.applied_index);
        self.span
            .record("records", header.data_records + header.meta_records);
        self.span.record("bytes", bytes);
        match self.kind {
            TransferKind::Export => metrics::exported(self.engine, bytes, self.started),
            TransferKind::Restore => metrics::restored(self.engine, bytes, self.started),
        }
    }
}

/// A reader or writer that adds the bytes it moves to a counter.
pub(crate) struct Counted<'c, T> {
    inner: T,
    bytes: &'c Cell<u64>,
}

impl<T> Counted<'_, T> {
    fn count(&self, moved: usize) {
        self.bytes.set(self.bytes.get() + moved as u64);
    }
}

impl<T: Read> Read for Counted<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.count(read);
        Ok(read)
    }
}

impl<T: Write> Write for Counted<'_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.count(written);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_streams_count_what_they_move_and_nothing_else() {
        let transfer = SnapshotTransfer::export("memory", Path::new("store"));
        let mut sink = Vec::new();
        let mut writer = transfer.counted(&mut sink);
        writer.write_all(b"hello").expect("write");
        writer.flush().expect("flush");
        let mut reader = transfer.counted(&b"0123456789"[..]);
        let mut first = [0; 4];
        reader.read_exact(&mut first).expect("read");
        assert_eq!(transfer.bytes.get(), 5 + 4);
    }
}
