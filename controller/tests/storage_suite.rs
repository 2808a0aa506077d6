//! openraft's storage conformance suite against weft's sled storage: the
//! cheapest way to know the log and state machine keep Raft's promises.

use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};
use weft_controller::StateMachine;
use weft_controller::raft::log_store::LogStore;
use weft_controller::raft::state_machine::StateMachineStore;
use weft_controller::raft::{NodeId, TypeConfig};

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for SledBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path().join("raft")).expect("sled");
        let log = LogStore::open(&db).expect("log store");
        let state = StateMachine::new(db.open_tree("state").expect("tree"));
        let blobs = std::sync::Arc::new(
            weft_controller::blobs::BlobStore::open(&dir.path().join("blobs")).expect("blobs"),
        );
        let machine = StateMachineStore::open(state, &dir.path().join("snapshots"), blobs)
            .expect("state machine");
        Ok((dir, log, machine))
    }
}

#[test]
fn sled_storage_passes_the_openraft_suite() {
    if let Err(e) = Suite::test_all(SledBuilder) {
        panic!("storage suite failed: {e}");
    }
}
