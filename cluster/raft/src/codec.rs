//! Bytes on disk (and, later, on the wire): rkyv archives inside a checked
//! frame.
//!
//! ```text
//!  0      4         6          10        14
//!  ┌──────┬─────────┬──────────┬─────────┬──────────────────────┐
//!  │magic │ version │ len      │ crc32   │ rkyv archive (len B) │
//!  │4 B   │ u16 LE  │ u32 LE   │ u32 LE  │                      │
//!  └──────┴─────────┴──────────┴─────────┴──────────────────────┘
//! ```
//!
//! The magic says what the frame holds (a log entry, a metadata value or a
//! snapshot), so a value read from the wrong place is refused instead of
//! misread. The CRC-32 (IEEE polynomial, `crc32fast`, hardware accelerated)
//! covers the archive; the header fields are each checked on their own, so
//! that a damaged header is reported for what it is (wrong kind, another
//! version, a cut file) rather than as a checksum mismatch. Decoding checks, in order: header length,
//! magic, version, payload length, CRC, then rkyv's own validation
//! (`bytecheck`), so a damaged frame yields a typed [`CodecError`] and never
//! a panic or undefined behaviour.
//!
//! openraft's own types (log ids, votes, memberships) have no rkyv support,
//! so they are stored through small mirror "images" defined here.

use std::collections::{BTreeMap, BTreeSet};

use openraft::{BasicNode, CommittedLeaderId, Entry, EntryPayload, Membership, StoredMembership};
use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;

use crate::command::Proposal;
use crate::id::NodeId;
use crate::TypeConfig;

/// The schema version written in every frame.
///
/// rkyv archives are not self-describing, so a variant or field cannot
/// simply be appended to [`crate::Command`] or the table's records: to
/// change the schema, freeze today's types in a `vN` module, define the new
/// ones, bump this version, and teach the decoder to convert `vN` frames.
/// Entries and snapshots written by older nodes then stay readable after an
/// upgrade. Until then, a frame of another version is refused with
/// [`CodecError::UnsupportedVersion`].
///
/// # History
///
/// - **1**: a normal log entry carried one [`crate::Command`]
///   (`PayloadImage::Normal(Command)`).
/// - **2**: a normal log entry carries a [`crate::Proposal`], a
///   batch of commands (`PayloadImage::Normal(Proposal)`). Metadata and
///   snapshot archives did not change; only the version in their header
///   did. A version 1 log entry would convert by decoding it with the
///   frozen version 1 `EntryImage` and wrapping its command as a
///   one-command `Proposal`; version 1 metadata and snapshot frames would
///   be read as they are. No version 1 data was ever deployed, so this
///   build ships no converter and refuses version 1 frames like any other
///   version.
/// - **3** (current): [`crate::Command::HandoverAbandoned`] is appended as
///   the last variant of `Command` (the archived layout of the earlier
///   variants is unchanged), and [`crate::HandoverRecord`] gains its
///   `abandoned` field, which changes the archived layout of snapshots.
///   Version 2 log entries and metadata frames are byte for byte valid
///   version 3 archives and would be read as they are; a version 2
///   snapshot would convert by decoding the table with frozen version 2
///   records and setting `abandoned: None` on every handover. No version 2
///   data was deployed, so no converter ships and version 2 frames are
///   refused like any other version.
pub const FORMAT_VERSION: u16 = 3;

/// Length of the frame header in bytes.
pub const HEADER_LEN: usize = 14;

/// What a frame holds; each kind has its own magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// One Raft log entry.
    LogEntry,
    /// A metadata value of the log store (vote, committed, purged, node id).
    Meta,
    /// A state machine snapshot.
    Snapshot,
}

impl FrameKind {
    /// The four bytes that open a frame of this kind.
    pub const fn magic(self) -> [u8; 4] {
        match self {
            FrameKind::LogEntry => *b"BtRE",
            FrameKind::Meta => *b"BtRM",
            FrameKind::Snapshot => *b"BtRS",
        }
    }
}

/// Why bytes could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Fewer bytes than a header.
    #[error("{len} bytes cannot hold a {HEADER_LEN}-byte frame header")]
    ShortHeader {
        /// Bytes available.
        len: usize,
    },
    /// The magic is not the one of the expected kind.
    #[error("expected a {expected:?} frame, found magic {found:02x?}")]
    BadMagic {
        /// The kind the caller expected.
        expected: FrameKind,
        /// The magic found.
        found: [u8; 4],
    },
    /// Written by a format this build does not read.
    #[error("frame format version {found} is not supported (this build reads {supported})")]
    UnsupportedVersion {
        /// The version in the frame.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// The payload is shorter than the header declares (a torn or cut
    /// write).
    #[error("frame declares {declared} payload bytes but only {actual} follow")]
    Truncated {
        /// Payload length in the header.
        declared: u32,
        /// Payload bytes present.
        actual: usize,
    },
    /// Bytes follow the declared payload.
    #[error("frame declares {declared} payload bytes but {actual} follow")]
    TrailingBytes {
        /// Payload length in the header.
        declared: u32,
        /// Payload bytes present.
        actual: usize,
    },
    /// The payload does not match its checksum (bit rot, a flipped byte).
    #[error(
        "frame checksum mismatch: header says {declared:#010x}, payload hashes to {computed:#010x}"
    )]
    CrcMismatch {
        /// CRC-32 in the header.
        declared: u32,
        /// CRC-32 of the payload.
        computed: u32,
    },
    /// The payload does not fit a `u32` length.
    #[error("a {len}-byte payload does not fit in a frame")]
    TooLarge {
        /// Payload length.
        len: usize,
    },
    /// rkyv refused to serialize, or the archive failed validation.
    #[error("rkyv archive: {0}")]
    Archive(#[source] rancor::Error),
    /// A membership with no voter set cannot be rebuilt.
    #[error("stored membership has no configuration")]
    EmptyMembership,
}

/// Serializes `value` with rkyv and wraps it in a frame of `kind`.
pub(crate) fn encode<T>(kind: FrameKind, value: &T) -> Result<Vec<u8>, CodecError>
where
    T: for<'a> rkyv::Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
{
    let payload = rkyv::to_bytes::<rancor::Error>(value).map_err(CodecError::Archive)?;
    frame(kind, &payload)
}

/// Wraps `payload` in a frame of `kind`.
pub(crate) fn frame(kind: FrameKind, payload: &[u8]) -> Result<Vec<u8>, CodecError> {
    let len =
        u32::try_from(payload.len()).map_err(|_| CodecError::TooLarge { len: payload.len() })?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&kind.magic());
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Checks a frame of `kind` and returns its payload.
pub(crate) fn unframe(kind: FrameKind, bytes: &[u8]) -> Result<&[u8], CodecError> {
    let (header, payload) = bytes
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(CodecError::ShortHeader { len: bytes.len() })?;
    let field = |at: usize| [header[at], header[at + 1], header[at + 2], header[at + 3]];
    let magic = field(0);
    if magic != kind.magic() {
        return Err(CodecError::BadMagic {
            expected: kind,
            found: magic,
        });
    }
    let version = u16::from_le_bytes([header[4], header[5]]);
    if version != FORMAT_VERSION {
        return Err(CodecError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let declared = u32::from_le_bytes(field(6));
    let actual = payload.len();
    // u32 to usize is lossless on every target Baton builds for (>= 32 bit).
    match actual.cmp(&(declared as usize)) {
        std::cmp::Ordering::Less => return Err(CodecError::Truncated { declared, actual }),
        std::cmp::Ordering::Greater => return Err(CodecError::TrailingBytes { declared, actual }),
        std::cmp::Ordering::Equal => {}
    }
    let crc = u32::from_le_bytes(field(10));
    let computed = crc32fast::hash(payload);
    if crc != computed {
        return Err(CodecError::CrcMismatch {
            declared: crc,
            computed,
        });
    }
    Ok(payload)
}

/// Checks a frame of `kind` and deserializes its payload.
pub(crate) fn decode<T>(kind: FrameKind, bytes: &[u8]) -> Result<T, CodecError>
where
    T: rkyv::Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<HighValidator<'a, rancor::Error>>
        + rkyv::Deserialize<T, HighDeserializer<rancor::Error>>,
{
    let payload = unframe(kind, bytes)?;
    // The payload sits 14 bytes into the frame, so it is not aligned for
    // rkyv's archived integers; copying into an aligned buffer is cheaper
    // than an unaligned archive format on every access.
    let mut aligned = AlignedVec::<16>::with_capacity(payload.len());
    aligned.extend_from_slice(payload);
    rkyv::from_bytes::<T, rancor::Error>(&aligned).map_err(CodecError::Archive)
}

/// Encodes one log entry as stored in the log (and sent to followers).
pub fn encode_entry(entry: &Entry<TypeConfig>) -> Result<Vec<u8>, CodecError> {
    encode(FrameKind::LogEntry, &EntryImage::from_entry(entry))
}

/// Decodes one log entry written by [`encode_entry`].
pub fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig>, CodecError> {
    decode::<EntryImage>(FrameKind::LogEntry, bytes)?.into_entry()
}

// ---------------------------------------------------------------------------
// Images of openraft's types.

pub(crate) type LogId = openraft::LogId<NodeId>;
pub(crate) type Vote = openraft::Vote<NodeId>;

/// A log id: the leader (term and node) that proposed it, and its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub(crate) struct LogIdImage {
    term: u64,
    node: NodeId,
    index: u64,
}

impl LogIdImage {
    pub(crate) fn from_log_id(id: &LogId) -> Self {
        LogIdImage {
            term: id.leader_id.term,
            node: id.leader_id.node_id,
            index: id.index,
        }
    }

    pub(crate) fn into_log_id(self) -> LogId {
        LogId::new(CommittedLeaderId::new(self.term, self.node), self.index)
    }
}

/// A vote: the leader voted for, and whether a quorum granted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub(crate) struct VoteImage {
    term: u64,
    node: NodeId,
    committed: bool,
}

impl VoteImage {
    pub(crate) fn from_vote(vote: &Vote) -> Self {
        VoteImage {
            term: vote.leader_id.term,
            node: vote.leader_id.node_id,
            committed: vote.committed,
        }
    }

    pub(crate) fn into_vote(self) -> Vote {
        if self.committed {
            Vote::new_committed(self.term, self.node)
        } else {
            Vote::new(self.term, self.node)
        }
    }
}

/// One node of a membership: its id and its address.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub(crate) struct NodeImage {
    id: NodeId,
    addr: String,
}

/// A (possibly joint) membership: the voter sets, and every node's address
/// (nodes that are in no voter set are learners).
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub(crate) struct MembershipImage {
    configs: Vec<Vec<NodeId>>,
    nodes: Vec<NodeImage>,
}

impl MembershipImage {
    pub(crate) fn from_membership(m: &Membership<NodeId, BasicNode>) -> Self {
        MembershipImage {
            configs: m
                .get_joint_config()
                .iter()
                .map(|set| set.iter().copied().collect())
                .collect(),
            nodes: m
                .nodes()
                .map(|(id, node)| NodeImage {
                    id: *id,
                    addr: node.addr.clone(),
                })
                .collect(),
        }
    }

    pub(crate) fn into_membership(self) -> Membership<NodeId, BasicNode> {
        let configs: Vec<BTreeSet<NodeId>> = self
            .configs
            .into_iter()
            .map(|set| set.into_iter().collect())
            .collect();
        let nodes: BTreeMap<NodeId, BasicNode> = self
            .nodes
            .into_iter()
            .map(|n| (n.id, BasicNode { addr: n.addr }))
            .collect();
        Membership::new(configs, nodes)
    }
}

/// A membership with the log id that introduced it.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub(crate) struct StoredMembershipImage {
    log_id: Option<LogIdImage>,
    membership: MembershipImage,
}

impl StoredMembershipImage {
    pub(crate) fn from_stored(m: &StoredMembership<NodeId, BasicNode>) -> Self {
        StoredMembershipImage {
            log_id: m.log_id().as_ref().map(LogIdImage::from_log_id),
            membership: MembershipImage::from_membership(m.membership()),
        }
    }

    pub(crate) fn into_stored(self) -> StoredMembership<NodeId, BasicNode> {
        StoredMembership::new(
            self.log_id.map(LogIdImage::into_log_id),
            self.membership.into_membership(),
        )
    }
}

/// What a log entry carries.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub(crate) enum PayloadImage {
    /// A leader's no-op.
    Blank,
    /// A batch of call table commands.
    Normal(Proposal),
    /// A membership change.
    Membership(MembershipImage),
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub(crate) struct EntryImage {
    log_id: LogIdImage,
    payload: PayloadImage,
}

impl EntryImage {
    pub(crate) fn from_entry(entry: &Entry<TypeConfig>) -> Self {
        EntryImage {
            log_id: LogIdImage::from_log_id(&entry.log_id),
            payload: match &entry.payload {
                EntryPayload::Blank => PayloadImage::Blank,
                EntryPayload::Normal(p) => PayloadImage::Normal(p.clone()),
                EntryPayload::Membership(m) => {
                    PayloadImage::Membership(MembershipImage::from_membership(m))
                }
            },
        }
    }

    pub(crate) fn into_entry(self) -> Result<Entry<TypeConfig>, CodecError> {
        let payload = match self.payload {
            PayloadImage::Blank => EntryPayload::Blank,
            PayloadImage::Normal(p) => EntryPayload::Normal(p),
            PayloadImage::Membership(m) => {
                if m.configs.is_empty() {
                    return Err(CodecError::EmptyMembership);
                }
                EntryPayload::Membership(m.into_membership())
            }
        };
        Ok(Entry {
            log_id: self.log_id.into_log_id(),
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::id::CallId;

    fn command() -> Command {
        Command::CallCreated {
            call: CallId(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            anchor: NodeId(3),
            created_at_ms: 1_700_000_000_000,
            caller_aor: "sip:alice@example.com".into(),
            callee_aor: "sip:bob@example.com".into(),
        }
    }

    fn entry() -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(7, NodeId(3)), 42),
            payload: EntryPayload::Normal(Proposal::new(vec![
                command(),
                Command::CallEnded {
                    call: CallId(9),
                    reason: crate::EndReason::Timeout,
                    ended_at_ms: 1_700_000_060_000,
                },
                Command::HandoverAbandoned {
                    call: CallId(9),
                    handover: crate::HandoverId(4),
                    reason: crate::AbandonReason::RolledBack,
                    at_ms: 1_700_000_050_000,
                },
                command(),
            ])),
        }
    }

    fn encoded() -> Vec<u8> {
        encode_entry(&entry()).expect("encode")
    }

    #[test]
    fn entry_round_trips() {
        let back = decode_entry(&encoded()).expect("decode");
        assert_eq!(back, entry());
    }

    #[test]
    fn one_command_and_empty_proposals_round_trip() {
        let log_id = LogId::new(CommittedLeaderId::new(2, NodeId(1)), 5);
        for proposal in [Proposal::from(command()), Proposal::default()] {
            let entry = Entry::<TypeConfig> {
                log_id,
                payload: EntryPayload::Normal(proposal),
            };
            assert_eq!(
                decode_entry(&encode_entry(&entry).expect("enc")).expect("dec"),
                entry
            );
        }
    }

    #[test]
    fn blank_and_membership_entries_round_trip() {
        let log_id = LogId::new(CommittedLeaderId::new(1, NodeId(1)), 0);
        let blank = Entry::<TypeConfig> {
            log_id,
            payload: EntryPayload::Blank,
        };
        assert_eq!(
            decode_entry(&encode_entry(&blank).expect("enc")).expect("dec"),
            blank
        );

        let nodes = BTreeMap::from([
            (NodeId(1), BasicNode::new("10.0.0.1:7001")),
            (NodeId(2), BasicNode::new("10.0.0.2:7001")),
            (NodeId(9), BasicNode::new("10.0.0.9:7001")),
        ]);
        let joint = vec![
            BTreeSet::from([NodeId(1)]),
            BTreeSet::from([NodeId(1), NodeId(2)]),
        ];
        let membership = Entry::<TypeConfig> {
            log_id,
            payload: EntryPayload::Membership(Membership::new(joint, nodes)),
        };
        let back = decode_entry(&encode_entry(&membership).expect("enc")).expect("dec");
        assert_eq!(back, membership);
    }

    #[test]
    fn vote_and_log_id_images_round_trip() {
        for vote in [Vote::new(3, NodeId(2)), Vote::new_committed(9, NodeId(1))] {
            let bytes = encode(FrameKind::Meta, &VoteImage::from_vote(&vote)).expect("enc");
            let back: VoteImage = decode(FrameKind::Meta, &bytes).expect("dec");
            assert_eq!(back.into_vote(), vote);
        }
        let id = LogId::new(CommittedLeaderId::new(5, NodeId(4)), 99);
        assert_eq!(LogIdImage::from_log_id(&id).into_log_id(), id);
    }

    #[test]
    fn every_flipped_payload_byte_is_caught() {
        let good = encoded();
        for at in HEADER_LEN..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x01;
            match decode_entry(&bad) {
                Err(CodecError::CrcMismatch { .. }) => {}
                other => panic!("byte {at}: expected a CRC mismatch, got {other:?}"),
            }
        }
    }

    #[test]
    fn flipped_header_bytes_are_caught() {
        let good = encoded();
        for at in 0..HEADER_LEN {
            let mut bad = good.clone();
            bad[at] ^= 0x80;
            let err = decode_entry(&bad).expect_err("a damaged header must be refused");
            let expected = match at {
                0..=3 => matches!(err, CodecError::BadMagic { .. }),
                4..=5 => matches!(err, CodecError::UnsupportedVersion { .. }),
                6..=9 => matches!(
                    err,
                    CodecError::Truncated { .. } | CodecError::TrailingBytes { .. }
                ),
                _ => matches!(err, CodecError::CrcMismatch { .. }),
            };
            assert!(expected, "byte {at}: unexpected {err:?}");
        }
    }

    #[test]
    fn truncation_is_caught_at_every_length() {
        let good = encoded();
        for len in 0..good.len() {
            let err = decode_entry(&good[..len]).expect_err("a cut frame must be refused");
            if len < HEADER_LEN {
                assert!(
                    matches!(err, CodecError::ShortHeader { .. }),
                    "{len}: {err:?}"
                );
            } else {
                assert!(
                    matches!(err, CodecError::Truncated { .. }),
                    "{len}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bad = encoded();
        bad.push(0);
        assert!(matches!(
            decode_entry(&bad),
            Err(CodecError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn wrong_version_is_refused_before_anything_else() {
        let mut bad = encoded();
        bad[4..6].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        match decode_entry(&bad) {
            Err(CodecError::UnsupportedVersion { found, supported }) => {
                assert_eq!(found, FORMAT_VERSION + 1);
                assert_eq!(supported, FORMAT_VERSION);
            }
            other => panic!("expected UnsupportedVersion, got {other:?}"),
        }
    }

    #[test]
    fn a_version_1_frame_is_refused() {
        // Version 1 entries held one command; no converter ships (no
        // version 1 data was deployed), so they are refused like any other
        // version.
        let mut old = encoded();
        old[4..6].copy_from_slice(&1u16.to_le_bytes());
        assert!(matches!(
            decode_entry(&old),
            Err(CodecError::UnsupportedVersion {
                found: 1,
                supported: FORMAT_VERSION
            })
        ));
    }

    #[test]
    fn a_version_2_frame_is_refused() {
        // Version 2 snapshots lack `HandoverRecord::abandoned`; no converter
        // ships (no version 2 data was deployed).
        let mut old = encoded();
        old[4..6].copy_from_slice(&2u16.to_le_bytes());
        assert!(matches!(
            decode_entry(&old),
            Err(CodecError::UnsupportedVersion {
                found: 2,
                supported: FORMAT_VERSION
            })
        ));
    }

    #[test]
    fn wrong_kind_is_refused() {
        let vote = encode(
            FrameKind::Meta,
            &VoteImage::from_vote(&Vote::new(1, NodeId(1))),
        )
        .expect("enc");
        assert!(matches!(
            decode_entry(&vote),
            Err(CodecError::BadMagic {
                expected: FrameKind::LogEntry,
                ..
            })
        ));
    }

    #[test]
    fn garbage_with_a_valid_frame_fails_validation_not_a_panic() {
        // A correct header and CRC around bytes that are not an archive:
        // bytecheck must refuse them.
        for payload in [&[][..], &[0xff; 3][..], &[0xa5; 64][..]] {
            let bytes = frame(FrameKind::LogEntry, payload).expect("frame");
            assert!(matches!(decode_entry(&bytes), Err(CodecError::Archive(_))));
        }
    }
}
