//! Closing a store that openraft's tasks share.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fsmstore::Engine;

use crate::io_error;

/// How often [`Closer::close`] looks whether the other handles are gone.
const POLL: Duration = Duration::from_millis(5);

/// Closes a log store's or state machine's store once openraft has let go of it, and
/// reports a failure of that close ([`LogStore::closer`](crate::LogStore::closer),
/// [`StateMachine::closer`](crate::StateMachine::closer)).
///
/// The stores are shared with openraft's tasks (and, for the log store, its writer's
/// threads, which end after what is queued once the last log store handle goes). Take
/// a closer before the store moves into `Raft`; after `Raft::shutdown`, `close` waits
/// until every other handle is gone, then closes the store: every commit durable, the
/// store's lock released, a clean close recorded.
pub struct Closer {
    engine: Arc<dyn Engine>,
}

impl Closer {
    pub(crate) fn new(engine: Arc<dyn Engine>) -> Self {
        Self { engine }
    }

    /// Waits up to `within` for this to be the store's last handle, then closes it.
    /// When other handles remain at the deadline (the application's own, an observer,
    /// a `Raft` not shut down), this handle goes and the answer is an error of kind
    /// `WouldBlock` holding [`fsmstore::Error::StillShared`]: the store then closes,
    /// unreported, when the last of them goes.
    pub async fn close(self, within: Duration) -> io::Result<()> {
        let deadline = Instant::now() + within;
        while Arc::strong_count(&self.engine) > 1 && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        self.engine.close_shared().map_err(|error| match error {
            still @ fsmstore::Error::StillShared { .. } => {
                io::Error::new(io::ErrorKind::WouldBlock, still)
            }
            other => io_error(other),
        })
    }
}
