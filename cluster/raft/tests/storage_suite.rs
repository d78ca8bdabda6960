//! openraft 0.9.25's own storage test suite (`openraft::testing::Suite`),
//! run against the redb log store and the call state machine.

use std::sync::mpsc;
use std::time::Duration;

use baton_raft::{CallStateMachine, LogStore, NodeId, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{AnyError, StorageError, StorageIOError};

/// Each suite case gets a fresh directory; the `TempDir` guard outlives the
/// stores and removes it.
struct FreshStore;

impl StoreBuilder<TypeConfig, LogStore, CallStateMachine, tempfile::TempDir> for FreshStore {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, CallStateMachine), StorageError<NodeId>> {
        let fail = |e: &dyn std::error::Error| {
            StorageError::from(StorageIOError::write(AnyError::error(e)))
        };
        let dir = tempfile::tempdir().map_err(|e| fail(&e))?;
        // The suite's votes and log ids use node 0.
        let log =
            LogStore::open(&dir.path().join("raft-log.redb"), NodeId(0)).map_err(|e| fail(&e))?;
        let sm = CallStateMachine::open(&dir.path().join("snapshots")).map_err(|e| fail(&e))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    // The suite builds its own runtimes and sleeps a few seconds in total
    // (it lets stores purge in the background); bound it from outside.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = Suite::test_all(FreshStore).map_err(|e| e.to_string());
        let _ = tx.send(result);
    });
    match rx.recv_timeout(Duration::from_secs(180)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("storage suite failed: {e}"),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("storage suite did not finish in 180 s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("storage suite panicked (see above)"),
    }
}
