//! The tracing spans of the slow paths, and the fields they carry, on the memory engine.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use fsmstore::memory::MemoryStore;
use fsmstore::{Config, Engine, SyncMode, WriteBatch};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};

/// One span as a layer saw it: its name and every field recorded on it, as text.
#[derive(Debug, Clone)]
struct SeenSpan {
    name: &'static str,
    fields: BTreeMap<&'static str, String>,
}

/// Records every span created and every field recorded later, in creation order.
#[derive(Clone, Default)]
struct SpanLog(Arc<Mutex<Vec<(Id, SeenSpan)>>>);

impl SpanLog {
    fn spans(&self) -> Vec<SeenSpan> {
        let spans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        spans.iter().map(|(_, span)| span.clone()).collect()
    }

    fn named(&self, name: &str) -> Vec<SeenSpan> {
        self.spans()
            .into_iter()
            .filter(|span| span.name == name)
            .collect()
    }
}

struct FieldText<'a>(&'a mut BTreeMap<&'static str, String>);

impl Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanLog {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut FieldText(&mut fields));
        let span = SeenSpan {
            name: attrs.metadata().name(),
            fields,
        };
        let mut spans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        spans.push((id.clone(), span));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Span ids are reused once a span closes: the newest span with the id is the live one.
        if let Some((_, span)) = spans.iter_mut().rev().find(|(seen, _)| seen == id) {
            values.record(&mut FieldText(&mut span.fields));
        }
    }
}

#[test]
fn slow_paths_have_spans_with_engine_directory_index_and_bytes() -> fsmstore::Result<()> {
    let log = SpanLog::default();
    let root = tempfile::tempdir()?;
    let (source_dir, target_dir) = (root.path().join("source"), root.path().join("target"));
    let snapshot_len = subscriber::with_default(
        Registry::default().with(log.clone()),
        || -> fsmstore::Result<usize> {
            let config = Config::new(SyncMode::NoSync);
            let source = MemoryStore::open(&source_dir, &config)?;
            let mut batch = WriteBatch::new();
            batch.put("key", "value");
            source.apply(&batch, Some(7))?;
            source.set_durable_applied_index(7)?;
            let mut snapshot = Vec::new();
            source.export(&mut snapshot)?;
            let target = MemoryStore::open(&target_dir, &config)?;
            target.restore(&mut snapshot.as_slice())?;
            source.close()?;
            target.close()?;
            Ok(snapshot.len())
        },
    )?;

    let names: Vec<_> = log.spans().iter().map(|span| span.name).collect();
    assert_eq!(
        names,
        [
            "open",
            "checkpoint",
            "export",
            "open",
            "restore",
            "close",
            "close"
        ],
        "no span on the apply path, one per slow path"
    );
    let field = |span: &SeenSpan, name: &str| span.fields.get(name).cloned();
    for span in log.spans() {
        assert_eq!(
            field(&span, "engine").as_deref(),
            Some("memory"),
            "{span:?}"
        );
        assert!(span.fields.contains_key("dir"), "{span:?}");
    }
    let checkpoint = &log.named("checkpoint")[0];
    assert_eq!(field(checkpoint, "index").as_deref(), Some("7"));
    for name in ["export", "restore"] {
        let transfer = &log.named(name)[0];
        assert_eq!(
            field(transfer, "bytes"),
            Some(snapshot_len.to_string()),
            "{transfer:?}"
        );
        assert_eq!(
            field(transfer, "index").as_deref(),
            Some("7"),
            "{transfer:?}"
        );
        // The key and the applied index's meta record.
        assert_eq!(
            field(transfer, "records").as_deref(),
            Some("2"),
            "{transfer:?}"
        );
    }
    let restore = &log.named("restore")[0];
    assert_eq!(
        field(restore, "dir"),
        Some(target_dir.display().to_string())
    );
    // A fresh store has no applied index to record.
    assert_eq!(field(&log.named("open")[0], "index"), None);
    Ok(())
}
