//! The node's reads: a get answered from the local store, parked until the node first reaches
//! a bootstrap peer, or sent as a Kademlia query whose copies are validated and merged
//! ([`EventLoop::on_get`]: where a read checks signatures, through the store's `validate`).

use std::time::Instant;

use libp2p::kad::{self, GetRecordOk, QueryId, RecordKey};
use tokio::sync::oneshot;

use super::{BeforeJoin, EventLoop, Parked};
use crate::dht::node::stats::bump;
use crate::dht::DhtError;
use crate::records::ProgressRecord;

/// A get in progress.
pub(super) struct PendingGet {
    key: RecordKey,
    latest: bool,
    merged: ProgressRecord,
    /// Other peers that returned the record so far.
    copies: usize,
    pub(super) reply: Option<GetReply>,
    started: Instant,
}

/// Where a get's answer goes.
pub(super) type GetReply = oneshot::Sender<Result<Option<ProgressRecord>, DhtError>>;

impl EventLoop {
    pub(super) fn get(&mut self, key: String, latest: bool, reply: GetReply) {
        let record_key = RecordKey::new(&key);
        let now = self.clock.now();
        let stored = self
            .kad()
            .store_mut()
            .progress(&record_key)
            .unwrap_or_default();
        // What this node read last is the incumbent set of its reads: entries it already
        // validated are not evicted by newcomers in its record store (a flood it received as a
        // replica must not push out honest entries it had read).
        let mut local = match self.read_cache.get(&record_key) {
            Some(read) => {
                let mut local = read.clone();
                local.merge_bounded(&stored, now, self.config.limits.max_entries);
                local
            }
            None => stored,
        };
        // Held entries were admitted when they came; a peer revoked since drops out now.
        let revoked = local.drop_revoked(&self.config.admission);
        if revoked > 0 {
            self.rejections.record(
                crate::records::RejectionReason::TokenRevoked,
                revoked as u64,
            );
        }
        if !latest && !local.is_empty() {
            bump(&self.stats.gets_ok, 1);
            let _ = reply.send(Ok(Some(local)));
            return;
        }
        if let Some(parked) = &mut self.before_join {
            parked.push(Parked {
                since: Instant::now(),
                request: BeforeJoin::Get { key, latest, reply },
            });
            return;
        }
        if self.swarm.connected_peers().next().is_none() {
            bump(&self.stats.gets_ok, 1);
            let _ = reply.send(Ok((!local.is_empty()).then_some(local)));
            return;
        }
        let qid = self.kad().get_record(record_key.clone());
        self.gets.insert(
            qid,
            PendingGet {
                key: record_key,
                latest,
                merged: local,
                copies: 0,
                reply: Some(reply),
                started: Instant::now(),
            },
        );
    }

    pub(super) fn on_get(
        &mut self,
        id: QueryId,
        result: Result<GetRecordOk, kad::GetRecordError>,
        last: bool,
    ) {
        let Some(mut pending) = self.gets.remove(&id) else {
            return;
        };
        let mut timed_out = false;
        match result {
            Ok(GetRecordOk::FoundRecord(found)) if found.peer.is_some() => {
                pending.copies += 1;
                let store = self.kad().store_mut();
                // What this get already merged is validated: identical entries are not
                // re-verified (most of a record is unchanged from one read to the next).
                if let Some(valid) =
                    store.validate(&pending.key, &found.record.value, Some(&pending.merged))
                {
                    // What this node held (the local copy) and what it found first are the
                    // incumbents: a flood found later cannot evict them.
                    let max = self.config.limits.max_entries;
                    pending.merged.merge_bounded(&valid, self.clock.now(), max);
                }
            }
            Ok(_) => {}
            Err(kad::GetRecordError::Timeout { .. }) => timed_out = true,
            Err(_) => {}
        }
        let quorum = self.config.read_quorum;
        let done = last
            || (!pending.latest && !pending.merged.is_empty())
            || (pending.latest && quorum > 0 && pending.copies >= quorum);
        if !done {
            self.gets.insert(id, pending);
            return;
        }
        if !last {
            if let Some(mut query) = self.kad().query_mut(&id) {
                query.finish();
            }
        }
        bump(
            &self.stats.get_micros,
            pending.started.elapsed().as_micros() as u64,
        );
        if !pending.merged.is_empty() {
            self.read_cache
                .insert(pending.key.clone(), pending.merged.clone());
        }
        let reply = pending.reply.take();
        let outcome = if pending.merged.is_empty() && timed_out {
            bump(&self.stats.gets_failed, 1);
            Err(DhtError::Timeout(self.config.request_timeout))
        } else {
            bump(&self.stats.gets_ok, 1);
            Ok((!pending.merged.is_empty()).then_some(pending.merged))
        };
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }
}
