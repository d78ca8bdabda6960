//! The port to other nodes: [`PeerNetwork`], one method that carries one
//! Raft RPC to one peer and brings back its reply.
//!
//! This crate declares the port (it is the consumer) and ships the one-node
//! implementation, [`OneNode`]. The QUIC transport (`cluster/transport`)
//! will implement it for real clusters: serialise a [`RaftRpc`], send it on
//! the Raft stream to the peer's address, and on the receiving node hand
//! the decoded RPC to [`crate::ClusterNode::handle_rpc`] and send back the
//! [`RaftReply`]. openraft's own network traits are adapted here, so the
//! transport never names openraft's network API.

use std::future::Future;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetwork, RaftNetworkFactory};

use crate::id::NodeId;
use crate::TypeConfig;

/// One Raft RPC, as sent to a peer.
#[derive(Debug)]
pub enum RaftRpc {
    /// Replicate entries, or a heartbeat (Raft §5.3).
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Ask for a vote (Raft §5.2).
    Vote(VoteRequest<NodeId>),
    /// One chunk of a snapshot (Raft §7).
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
}

impl RaftRpc {
    fn kind(&self) -> RpcKind {
        match self {
            RaftRpc::AppendEntries(_) => RpcKind::AppendEntries,
            RaftRpc::Vote(_) => RpcKind::Vote,
            RaftRpc::InstallSnapshot(_) => RpcKind::InstallSnapshot,
        }
    }
}

/// A peer's answer to a [`RaftRpc`]: the peer's Raft result, success or
/// its refusal.
#[derive(Debug)]
pub enum RaftReply {
    /// Answer to [`RaftRpc::AppendEntries`].
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// Answer to [`RaftRpc::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// Answer to [`RaftRpc::InstallSnapshot`].
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
}

impl RaftReply {
    fn kind(&self) -> RpcKind {
        match self {
            RaftReply::AppendEntries(_) => RpcKind::AppendEntries,
            RaftReply::Vote(_) => RpcKind::Vote,
            RaftReply::InstallSnapshot(_) => RpcKind::InstallSnapshot,
        }
    }
}

/// The three RPC kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcKind {
    /// AppendEntries.
    AppendEntries,
    /// RequestVote.
    Vote,
    /// InstallSnapshot.
    InstallSnapshot,
}

/// Why an RPC got no reply.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The network has no route to this node (the one-node network has no
    /// peers at all). openraft backs off before retrying.
    #[error("node {target} is not reachable")]
    Unreachable {
        /// The peer.
        target: NodeId,
    },
    /// No reply within the deadline.
    #[error("node {target} did not answer within the deadline")]
    Timeout {
        /// The peer.
        target: NodeId,
    },
    /// The connection failed mid-RPC; openraft retries at once.
    #[error("connection to node {target} failed")]
    Connection {
        /// The peer.
        target: NodeId,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The peer answered another kind of RPC (a transport bug).
    #[error("node {target} answered {got:?} to {sent:?}")]
    UnexpectedReply {
        /// The peer.
        target: NodeId,
        /// The RPC sent.
        sent: RpcKind,
        /// The reply received.
        got: RpcKind,
    },
}

/// How this node reaches its peers. Implement it for a transport; keep it
/// cheap to clone (openraft opens one client per peer).
pub trait PeerNetwork: Clone + Send + Sync + 'static {
    /// Sends `rpc` to node `target` (reachable at `peer.addr`) and waits
    /// for its reply, for at most `deadline`.
    fn call(
        &self,
        target: NodeId,
        peer: &BasicNode,
        rpc: RaftRpc,
        deadline: std::time::Duration,
    ) -> impl Future<Output = Result<RaftReply, PeerError>> + Send;
}

/// The network of a one-node cluster: there is nobody to call. A one-node
/// leader never sends an RPC, so a call means the membership names a node
/// this network cannot reach.
#[derive(Debug, Clone, Copy, Default)]
pub struct OneNode;

impl PeerNetwork for OneNode {
    async fn call(
        &self,
        target: NodeId,
        _peer: &BasicNode,
        _rpc: RaftRpc,
        _deadline: std::time::Duration,
    ) -> Result<RaftReply, PeerError> {
        Err(PeerError::Unreachable { target })
    }
}

/// Adapts a [`PeerNetwork`] to openraft's `RaftNetworkFactory`.
#[derive(Debug, Clone)]
pub(crate) struct Peers<P>(pub(crate) P);

impl<P: PeerNetwork> RaftNetworkFactory<TypeConfig> for Peers<P> {
    type Network = PeerClient<P>;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        PeerClient {
            network: self.0.clone(),
            target,
            node: node.clone(),
        }
    }
}

/// openraft's client for one peer, over a [`PeerNetwork`].
#[derive(Debug)]
pub(crate) struct PeerClient<P> {
    network: P,
    target: NodeId,
    node: BasicNode,
}

impl<P: PeerNetwork> PeerClient<P> {
    async fn send(&self, rpc: RaftRpc, option: &RPCOption) -> Result<RaftReply, PeerError> {
        let sent = rpc.kind();
        let reply = self
            .network
            .call(self.target, &self.node, rpc, option.hard_ttl())
            .await?;
        if reply.kind() == sent {
            Ok(reply)
        } else {
            Err(PeerError::UnexpectedReply {
                target: self.target,
                sent,
                got: reply.kind(),
            })
        }
    }
}

/// Maps a port failure onto openraft's retry semantics.
fn rpc_error<E: std::error::Error>(e: &PeerError) -> RPCError<NodeId, BasicNode, E> {
    match e {
        PeerError::Unreachable { .. } | PeerError::Timeout { .. } => {
            RPCError::Unreachable(Unreachable::new(e))
        }
        PeerError::Connection { .. } | PeerError::UnexpectedReply { .. } => {
            RPCError::Network(NetworkError::new(e))
        }
    }
}

impl<P: PeerNetwork> RaftNetwork<TypeConfig> for PeerClient<P> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.send(RaftRpc::AppendEntries(rpc), &option).await {
            Ok(RaftReply::AppendEntries(Ok(r))) => Ok(r),
            Ok(RaftReply::AppendEntries(Err(e))) => Err(RPCError::RemoteError(
                RemoteError::new_with_node(self.target, self.node.clone(), e),
            )),
            Ok(other) => Err(rpc_error(&mismatch(
                self.target,
                RpcKind::AppendEntries,
                &other,
            ))),
            Err(e) => Err(rpc_error(&e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self.send(RaftRpc::InstallSnapshot(rpc), &option).await {
            Ok(RaftReply::InstallSnapshot(Ok(r))) => Ok(r),
            Ok(RaftReply::InstallSnapshot(Err(e))) => Err(RPCError::RemoteError(
                RemoteError::new_with_node(self.target, self.node.clone(), e),
            )),
            Ok(other) => Err(rpc_error(&mismatch(
                self.target,
                RpcKind::InstallSnapshot,
                &other,
            ))),
            Err(e) => Err(rpc_error(&e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.send(RaftRpc::Vote(rpc), &option).await {
            Ok(RaftReply::Vote(Ok(r))) => Ok(r),
            Ok(RaftReply::Vote(Err(e))) => Err(RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))),
            Ok(other) => Err(rpc_error(&mismatch(self.target, RpcKind::Vote, &other))),
            Err(e) => Err(rpc_error(&e)),
        }
    }
}

// `send` already checks the kind; this keeps the matches total without a
// panic if that check is ever removed.
fn mismatch(target: NodeId, sent: RpcKind, got: &RaftReply) -> PeerError {
    PeerError::UnexpectedReply {
        target,
        sent,
        got: got.kind(),
    }
}
