use crate::branch::{Branch, BranchGenerator};
use crate::key::{KeyInner, KeyMap, KeySeed};
use crate::transaction::{Ctx, Disposition, Outbox};
use crate::{
    ClientInviteTransaction, ClientNonInviteTransaction, Config, Event, Flow, RequestOutcome,
    ResponseOutcome, Role, ServerInviteTransaction, ServerNonInviteTransaction, Timers,
    Transaction, TransactionError, TransactionKey, TransactionState, Transmit,
};
use bytes::Bytes;
use sip_message::{Message, Method, ResponseBuilder};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

/// All the transactions of one SIP endpoint, and the matching that routes
/// messages to them (RFC 3261 §17.1.3, §17.2.3).
///
/// Sans-IO: see the crate documentation for the run loop. Every `handle_*`
/// and `send_*` call may queue transmits and events; drain both, then sleep
/// until [`TransactionLayer::poll_timeout`].
#[derive(Debug)]
pub struct TransactionLayer {
    config: Config,
    transactions: KeyMap<Slot>,
    seed: KeySeed,
    /// Deadlines, earliest first. Entries go stale when a transaction's
    /// deadline moves or it ends; they are skipped (and pruned from the
    /// top) instead of being searched for, so rescheduling is O(log n).
    deadlines: BinaryHeap<Reverse<Deadline>>,
    next_seq: u64,
    out: Outbox,
    branches: BranchGenerator,
    /// Live server transactions of requests without a To tag, by the
    /// fields RFC 3261 §8.2.2.2 compares to detect a merged request.
    merge_index: HashMap<MergeKey, TransactionKey>,
}

#[derive(Debug)]
struct Slot {
    transaction: Transaction,
    /// The deadline the heap holds a live entry for.
    scheduled: Option<Instant>,
    /// This transaction's entry in `merge_index`, if it has one.
    merge: Option<MergeKey>,
}

/// From tag, Call-ID and CSeq of a request outside a dialog (RFC 3261
/// §8.2.2.2): two live server transactions with the same ones are the same
/// request reaching us twice by different paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MergeKey {
    from_tag: String,
    call_id: String,
    cseq: u32,
    method: Method,
}

impl MergeKey {
    /// The key of a request without a To tag; `None` for one inside a
    /// dialog, an ACK, or one without a From tag (RFC 2543 peers).
    fn of(request: &Message) -> Option<MergeKey> {
        if request.to_tag().is_some() {
            return None;
        }
        let cseq = request.cseq()?;
        if cseq.method == Method::ACK {
            return None;
        }
        Some(MergeKey {
            from_tag: request.from_tag()?,
            call_id: request.call_id()?.to_string(),
            cseq: cseq.seq,
            method: cseq.method,
        })
    }
}

#[derive(Debug)]
struct Deadline {
    at: Instant,
    seq: u64,
    key: TransactionKey,
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Deadline {}
impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl TransactionLayer {
    /// An empty layer. Timer values are [`Timers::sanitized`].
    pub fn new(mut config: Config) -> Self {
        config.timers = config.timers.sanitized();
        let branches = match config.branch_seed {
            Some(seed) => BranchGenerator::with_seed(seed),
            None => BranchGenerator::new(),
        };
        TransactionLayer {
            config,
            transactions: KeyMap::default(),
            seed: KeySeed::default(),
            deadlines: BinaryHeap::new(),
            next_seq: 0,
            out: Outbox::default(),
            branches,
            merge_index: HashMap::new(),
        }
    }

    /// The timer values in use (for a [`crate::TwoXxRetransmitter`]).
    pub fn timers(&self) -> &Timers {
        &self.config.timers
    }

    /// A fresh RFC 3261 branch (`z9hG4bK…`) for the top Via of a request
    /// the TU is about to send.
    pub fn new_branch(&mut self) -> Branch {
        self.branches.next_branch()
    }

    /// Number of live transactions. Terminated ones are removed at once.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    /// A live transaction.
    pub fn get(&self, key: &TransactionKey) -> Option<&Transaction> {
        self.transactions.get(key).map(|s| &s.transaction)
    }

    /// The state of a live transaction.
    pub fn state(&self, key: &TransactionKey) -> Option<TransactionState> {
        self.get(key).map(Transaction::state)
    }

    /// The last response a server transaction sent, serialised: what a
    /// [`crate::TwoXxRetransmitter`] re-sends after a 2xx.
    pub fn last_response(&self, key: &TransactionKey) -> Option<Bytes> {
        self.get(key).and_then(Transaction::last_response).cloned()
    }

    /// The CANCEL for a client INVITE transaction that has no final
    /// response yet (RFC 3261 §9.1). Send it with
    /// [`TransactionLayer::send_request`]: it is a transaction of its own.
    pub fn cancel_request(&self, key: &TransactionKey) -> Option<Message> {
        match self.get(key)? {
            Transaction::ClientInvite(t) => t.cancel_request(),
            _ => None,
        }
    }

    /// Starts a client transaction for a request from the TU and sends it.
    ///
    /// The TU writes the top Via with a branch from
    /// [`TransactionLayer::new_branch`]. `reliable` is normally
    /// `destination.transport.is_reliable()`; it turns retransmissions off
    /// and Timers D and K to zero (RFC 3261 §17.1). ACK is refused: see
    /// [`TransactionLayer::send_stateless`].
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Message,
        destination: Flow,
        reliable: bool,
    ) -> Result<TransactionKey, TransactionError> {
        let inner = KeyInner::client_for_request(&self.seed, &request)?;
        if self.transactions.contains_key(&inner) {
            return Err(TransactionError::DuplicateTransaction);
        }
        let key = TransactionKey::new(inner);
        let mut ctx = Ctx {
            now,
            key: &key,
            timers: &self.config.timers,
            out: &mut self.out,
        };
        let transaction = if *key.method() == Method::INVITE {
            Transaction::ClientInvite(ClientInviteTransaction::start(
                &mut ctx,
                request,
                destination,
                reliable,
            ))
        } else {
            Transaction::ClientNonInvite(ClientNonInviteTransaction::start(
                &mut ctx,
                &request,
                destination,
                reliable,
            ))
        };
        self.insert(key.clone(), transaction);
        Ok(key)
    }

    /// Sends a response from the TU on a server transaction.
    ///
    /// The response is serialised once; the transaction keeps the bytes for
    /// retransmission. After a 2xx to an INVITE the transaction is in
    /// Accepted and the TU owns retransmission: build a
    /// [`crate::TwoXxRetransmitter`] from [`TransactionLayer::last_response`].
    pub fn send_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: &Message,
    ) -> Result<(), TransactionError> {
        let code = response.status().ok_or(TransactionError::NotAResponse)?;
        if !(100..=699).contains(&code) {
            return Err(TransactionError::InvalidStatus(code));
        }
        if key.role() != Role::Server {
            return Err(TransactionError::NotAServerTransaction);
        }
        let slot = self
            .transactions
            .get_mut(key)
            .ok_or(TransactionError::UnknownTransaction)?;
        let mut ctx = Ctx {
            now,
            key,
            timers: &self.config.timers,
            out: &mut self.out,
        };
        slot.transaction.send_response(&mut ctx, code, response)?;
        self.settle(key);
        Ok(())
    }

    /// Queues already-serialised bytes outside any transaction (an ACK
    /// re-sent for a retransmitted 2xx).
    pub fn send_stateless_bytes(&mut self, payload: Bytes, destination: Flow) {
        self.out.transmits.push_back(Transmit {
            destination,
            payload,
            key: None,
        });
    }

    /// Queues a message that belongs to no transaction: the ACK to a 2xx
    /// (RFC 3261 §13.2.2.4) or a stateless response.
    pub fn send_stateless(&mut self, message: &Message, destination: Flow) {
        self.out.transmits.push_back(Transmit {
            destination,
            payload: Bytes::from(message.to_bytes()),
            key: None,
        });
    }

    /// Feeds a request that arrived on `flow`.
    ///
    /// A retransmission is answered by its server transaction; a new
    /// request creates one and queues [`Event::Request`]; an ACK the layer
    /// does not own is handed back. Errors only for a message that cannot
    /// be matched at all (no top Via, no CSeq …), which
    /// `Message::parse` already refuses.
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: Message,
        flow: Flow,
    ) -> Result<RequestOutcome, TransactionError> {
        let method = request.method().ok_or(TransactionError::NotARequest)?;
        if *method == Method::ACK {
            let inner = KeyInner::server_for_request(&self.seed, &request, Method::INVITE)?;
            let Some(key) = self.find_ack_target(inner) else {
                return Ok(RequestOutcome::StrayAck(request));
            };
            return Ok(match self.deliver_request(now, &key, true) {
                Disposition::Absorbed => RequestOutcome::Absorbed,
                Disposition::ToTu => RequestOutcome::StrayAck(request),
            });
        }
        let inner = KeyInner::server_for_request(&self.seed, &request, method.clone())?;
        if let Some((key, _)) = self.transactions.get_key_value(&inner) {
            let key = key.clone();
            self.deliver_request(now, &key, false);
            return Ok(RequestOutcome::Absorbed);
        }
        let key = TransactionKey::new(inner);
        let merge = MergeKey::of(&request);
        let merged = merge
            .as_ref()
            .is_some_and(|m| self.merge_index.contains_key(m));
        let transaction = if *key.method() == Method::INVITE {
            let mut ctx = Ctx {
                now,
                key: &key,
                timers: &self.config.timers,
                out: &mut self.out,
            };
            Transaction::ServerInvite(ServerInviteTransaction::start(
                &mut ctx,
                &request,
                flow,
                // A merged INVITE is answered at once.
                self.config.send_100_trying && !merged,
            ))
        } else {
            Transaction::ServerNonInvite(ServerNonInviteTransaction::start(flow))
        };
        if merged {
            // RFC 3261 §8.2.2.2: the same request arrived earlier by
            // another path (another branch) and its transaction is live:
            // answer this copy 482 on a transaction of its own, which
            // absorbs its retransmissions. The TU never sees it.
            let tag = self.branches.next_branch();
            let tag = tag.as_str().trim_start_matches(crate::branch::MAGIC_COOKIE);
            let response = ResponseBuilder::to_request(&request, 482)
                .to_tag(tag)
                .build();
            self.insert_with_merge(key.clone(), transaction, None);
            self.send_response(now, &key, &response)?;
            return Ok(RequestOutcome::Merged(key));
        }
        self.out.events.push_back(Event::Request {
            key: key.clone(),
            message: request,
            flow,
        });
        self.insert_with_merge(key.clone(), transaction, merge);
        Ok(RequestOutcome::New(key))
    }

    /// Feeds a response that arrived from the network. It goes to the
    /// client transaction with the same top Via branch and CSeq method
    /// (RFC 3261 §17.1.3), or comes back as stray.
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: Message,
    ) -> Result<ResponseOutcome, TransactionError> {
        if response.is_request() {
            return Err(TransactionError::NotAResponse);
        }
        let Some(inner) = KeyInner::client_for_response(&self.seed, &response) else {
            return Ok(ResponseOutcome::Stray(response));
        };
        let Some((key, _)) = self.transactions.get_key_value(&inner) else {
            return Ok(ResponseOutcome::Stray(response));
        };
        let key = key.clone();
        if let Some(slot) = self.transactions.get_mut(&key) {
            let mut ctx = Ctx {
                now,
                key: &key,
                timers: &self.config.timers,
                out: &mut self.out,
            };
            slot.transaction.on_response(&mut ctx, response);
        }
        self.settle(&key);
        Ok(ResponseOutcome::Matched(key))
    }

    /// The driver could not send a message of this transaction (ICMP
    /// error, connection refused or reset): the transaction ends and the TU
    /// gets [`Event::TransportError`] (RFC 3261 §17.1.4, §17.2.4).
    pub fn handle_transport_error(&mut self, now: Instant, key: &TransactionKey) {
        let Some(slot) = self.transactions.get_mut(key) else {
            return;
        };
        let mut ctx = Ctx {
            now,
            key,
            timers: &self.config.timers,
            out: &mut self.out,
        };
        slot.transaction.on_transport_error(&mut ctx);
        self.settle(key);
    }

    /// Ends a transaction at once, whatever its state, without sending
    /// anything; [`Event::Terminated`] follows. For a TU that gives up on a
    /// request it will never answer (a non-INVITE server transaction has no
    /// timer of its own in Trying), or that shuts down. Unknown keys are
    /// ignored.
    pub fn terminate(&mut self, key: &TransactionKey) {
        if self.remove(key).is_some() {
            self.out
                .events
                .push_back(Event::Terminated { key: key.clone() });
            self.prune();
        }
    }

    /// Fires every timer due at `now`. Call it when
    /// [`TransactionLayer::poll_timeout`] is reached (calling it early or
    /// twice is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse(top)) = self.deadlines.peek() {
            if top.at > now {
                break;
            }
            let Some(Reverse(entry)) = self.deadlines.pop() else {
                break;
            };
            let Some(slot) = self.transactions.get_mut(&entry.key) else {
                continue;
            };
            if slot.scheduled != Some(entry.at) {
                continue;
            }
            slot.scheduled = None;
            let mut ctx = Ctx {
                now,
                key: &entry.key,
                timers: &self.config.timers,
                out: &mut self.out,
            };
            slot.transaction.on_timeout(&mut ctx);
            self.settle(&entry.key);
        }
        self.prune();
    }

    /// The server INVITE transaction a CANCEL targets (RFC 3261 §9.2):
    /// the §17.2.3 matching rules applied as if the CANCEL were the INVITE
    /// (same branch and sent-by, or the same RFC 2543 fields). `None` if the
    /// message is not a CANCEL or matches nothing; the TU then answers 481.
    pub fn find_invite_for_cancel(&self, cancel: &Message) -> Option<TransactionKey> {
        if cancel.method() != Some(&Method::CANCEL) {
            return None;
        }
        let inner = KeyInner::server_for_request(&self.seed, cancel, Method::INVITE).ok()?;
        self.transactions
            .get_key_value(&inner)
            .map(|(key, _)| key.clone())
    }

    /// True when `request` (not an ACK) belongs to a live server
    /// transaction: fed to [`TransactionLayer::handle_request`] it would be
    /// absorbed as a retransmission, not start a transaction. A TU that
    /// caps [`TransactionLayer::len`] asks this before refusing a request.
    pub fn has_server_transaction(&self, request: &Message) -> bool {
        let Some(method) = request.method() else {
            return false;
        };
        if *method == Method::ACK {
            return false;
        }
        KeyInner::server_for_request(&self.seed, request, method.clone())
            .is_ok_and(|inner| self.transactions.contains_key(&inner))
    }

    /// The next datagram or segment to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// When [`TransactionLayer::handle_timeout`] must be called next;
    /// `None` when no timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse(d)| d.at)
    }

    /// RFC 3261 §17.2.3 for ACK. With a cookie, the INVITE key. Without
    /// one (RFC 2543), the INVITE fields must match and the ACK's To tag
    /// must be the one of the response sent: try the key with the ACK's To
    /// tag (a re-INVITE, whose To tag is already set) and without a To tag
    /// (an initial INVITE).
    fn find_ack_target(&self, inner: KeyInner) -> Option<TransactionKey> {
        if !inner.is_rfc2543() {
            return self
                .transactions
                .get_key_value(&inner)
                .map(|(k, _)| k.clone());
        }
        let ack_tag = inner.to_tag().map(str::to_string);
        let matches = |candidate: &KeyInner| {
            self.transactions
                .get_key_value(candidate)
                .filter(|(_, slot)| slot.transaction.response_to_tag() == ack_tag.as_deref())
                .map(|(k, _)| k.clone())
        };
        matches(&inner).or_else(|| {
            // Without a To tag the first probe already was the tag-less key.
            ack_tag.as_ref()?;
            matches(&inner.with_to_tag(&self.seed, None))
        })
    }

    fn deliver_request(&mut self, now: Instant, key: &TransactionKey, is_ack: bool) -> Disposition {
        let Some(slot) = self.transactions.get_mut(key) else {
            return Disposition::Absorbed;
        };
        let mut ctx = Ctx {
            now,
            key,
            timers: &self.config.timers,
            out: &mut self.out,
        };
        let disposition = slot.transaction.on_request(&mut ctx, is_ack);
        self.settle(key);
        disposition
    }

    fn insert(&mut self, key: TransactionKey, transaction: Transaction) {
        self.insert_with_merge(key, transaction, None);
    }

    fn insert_with_merge(
        &mut self,
        key: TransactionKey,
        transaction: Transaction,
        merge: Option<MergeKey>,
    ) {
        if let Some(m) = &merge {
            self.merge_index.insert(m.clone(), key.clone());
        }
        self.transactions.insert(
            key.clone(),
            Slot {
                transaction,
                scheduled: None,
                merge,
            },
        );
        self.settle(&key);
    }

    /// Removes a transaction and its merge-index entry.
    fn remove(&mut self, key: &TransactionKey) -> Option<Slot> {
        let slot = self.transactions.remove(key)?;
        if let Some(m) = &slot.merge {
            if self.merge_index.get(m) == Some(key) {
                self.merge_index.remove(m);
            }
        }
        Some(slot)
    }

    /// After a transaction handled an input: remove it if it terminated,
    /// else make sure the heap holds its next deadline.
    fn settle(&mut self, key: &TransactionKey) {
        let Some(slot) = self.transactions.get_mut(key) else {
            return;
        };
        if slot.transaction.is_terminated() {
            self.remove(key);
            self.out
                .events
                .push_back(Event::Terminated { key: key.clone() });
        } else {
            let next = slot.transaction.next_deadline();
            if next != slot.scheduled {
                slot.scheduled = next;
                if let Some(at) = next {
                    self.next_seq += 1;
                    self.deadlines.push(Reverse(Deadline {
                        at,
                        seq: self.next_seq,
                        key: key.clone(),
                    }));
                }
            }
        }
        self.prune();
    }

    /// Drops stale entries from the top of the heap, so that
    /// `poll_timeout` (which takes `&self`) reads a live deadline.
    fn prune(&mut self) {
        while let Some(Reverse(top)) = self.deadlines.peek() {
            let live = self
                .transactions
                .get(&top.key)
                .is_some_and(|s| s.scheduled == Some(top.at));
            if live {
                break;
            }
            self.deadlines.pop();
        }
    }
}
