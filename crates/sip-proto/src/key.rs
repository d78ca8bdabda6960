use crate::branch::Branch;
use crate::TransactionError;
use sip_message::{Host, Message, Method};
use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

/// Which side of a transaction this stack plays (RFC 3261 §17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A client transaction: we sent the request.
    Client,
    /// A server transaction: we received the request.
    Server,
}

/// Identifies one transaction inside a [`crate::TransactionLayer`].
///
/// Built from the matching rules of RFC 3261 §17.1.3 (client: top Via
/// branch and CSeq method) and §17.2.3 (server: branch, sent-by and
/// method, with ACK folded onto INVITE; or the RFC 2543 fields when the
/// branch lacks the magic cookie). Cloning is a reference-count increment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey(Arc<KeyInner>);

impl TransactionKey {
    pub(crate) fn new(inner: KeyInner) -> Self {
        TransactionKey(Arc::new(inner))
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.0.role
    }

    /// The method of the request that created the transaction
    /// (never ACK: an ACK belongs to its INVITE transaction).
    pub fn method(&self) -> &Method {
        &self.0.method
    }

    /// The branch, unless the key uses RFC 2543 matching.
    pub fn branch(&self) -> Option<&Branch> {
        match &self.0.id {
            KeyId::Branch { branch, .. } => Some(branch),
            KeyId::Rfc2543(_) => None,
        }
    }

    /// True when the transaction is matched by the RFC 2543 rules
    /// (its request had no magic cookie in the branch).
    pub fn is_rfc2543(&self) -> bool {
        self.0.is_rfc2543()
    }
}

impl Borrow<KeyInner> for TransactionKey {
    fn borrow(&self) -> &KeyInner {
        &self.0
    }
}

impl fmt::Debug for TransactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionKey({self})")
    }
}

impl fmt::Display for TransactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = match self.0.role {
            Role::Client => "client",
            Role::Server => "server",
        };
        write!(f, "{role} {} ", self.0.method)?;
        match &self.0.id {
            KeyId::Branch {
                branch,
                sent_by: None,
            } => write!(f, "{branch}"),
            KeyId::Branch {
                branch,
                sent_by: Some(s),
            } => {
                write!(f, "{branch} {}", s.host)?;
                match s.port {
                    Some(p) => write!(f, ":{p}"),
                    None => Ok(()),
                }
            }
            KeyId::Rfc2543(id) => write!(f, "rfc2543 {} {}", id.call_id, id.cseq),
        }
    }
}

/// The content of a key. Lookups build one of these from an incoming
/// message and query the map through `Borrow`, without an `Arc`.
///
/// The fields are hashed once, with the layer's random keys, into `digest`;
/// `Hash` writes only the digest, so the several map operations one message
/// costs hash eight bytes each instead of the branch and sent-by again.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct KeyInner {
    /// First, so that unequal keys usually differ at the first compare.
    digest: u64,
    role: Role,
    method: Method,
    id: KeyId,
}

/// The random keys a layer hashes its transaction keys with, so that a
/// peer cannot choose branches that collide (hash flooding).
#[derive(Debug, Clone, Default)]
pub(crate) struct KeySeed(RandomState);

impl KeySeed {
    fn key(&self, role: Role, method: Method, id: KeyId) -> KeyInner {
        let mut h = self.0.build_hasher();
        role.hash(&mut h);
        // `Method`'s own Hash prints the method into a String; hash the
        // rsip discriminant instead. Consistent with the derived Eq: equal
        // methods have equal discriminants or equal tokens.
        match &method {
            Method::Standard(m) => {
                0u8.hash(&mut h);
                std::mem::discriminant(m).hash(&mut h);
            }
            Method::Extension(t) => {
                1u8.hash(&mut h);
                t.hash(&mut h);
            }
        }
        id.hash(&mut h);
        KeyInner {
            digest: h.finish(),
            role,
            method,
            id,
        }
    }
}

/// A map keyed by transaction keys, hashing only their digest.
pub(crate) type KeyMap<V> = HashMap<TransactionKey, V, BuildHasherDefault<DigestHasher>>;

/// Passes a key's precomputed, already random digest through. Anything
/// else written (never, for `KeyInner`) is mixed in FNV style.
#[derive(Debug, Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyId {
    /// RFC 3261: the branch, plus the sent-by on the server side.
    Branch {
        branch: Branch,
        sent_by: Option<SentBy>,
    },
    /// RFC 2543 fallback (RFC 3261 §17.2.3, last paragraphs).
    Rfc2543(Box<Rfc2543Id>),
}

/// The sent-by of a Via: host (domain names compared case-insensitively)
/// and port as written.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SentBy {
    host: Host,
    port: Option<u16>,
}

/// The fields RFC 3261 §17.2.3 compares for requests without a cookie.
/// Request-URI and top Via are compared in their normalised printed form.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Rfc2543Id {
    request_uri: String,
    call_id: String,
    from_tag: Option<String>,
    to_tag: Option<String>,
    cseq: u32,
    top_via: String,
}

impl Hash for KeyInner {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest);
    }
}

impl KeyInner {
    /// The key of a client transaction for a request the TU sends
    /// (RFC 3261 §17.1.3): its top Via branch and its method.
    pub(crate) fn client_for_request(
        seed: &KeySeed,
        request: &Message,
    ) -> Result<KeyInner, TransactionError> {
        let method = request.method().ok_or(TransactionError::NotARequest)?;
        if *method == Method::ACK {
            return Err(TransactionError::AckNotATransaction);
        }
        let via = request.top_via().ok_or(TransactionError::MissingVia)?;
        let branch = via
            .branch()
            .map(Branch::new)
            .filter(Branch::is_rfc3261)
            .ok_or(TransactionError::MissingBranch)?;
        let id = KeyId::Branch {
            branch,
            sent_by: None,
        };
        Ok(seed.key(Role::Client, method.clone(), id))
    }

    /// The key of the client transaction a response belongs to
    /// (RFC 3261 §17.1.3): top Via branch and CSeq method. `None` when
    /// either is missing: such a response matches nothing.
    pub(crate) fn client_for_response(seed: &KeySeed, response: &Message) -> Option<KeyInner> {
        let via = response.top_via()?;
        let branch = Branch::new(via.branch()?);
        let method = response.cseq()?.method;
        let id = KeyId::Branch {
            branch,
            sent_by: None,
        };
        Some(seed.key(Role::Client, method, id))
    }

    /// The key of the server transaction a request belongs to, looked up as
    /// if its method were `method` (RFC 3261 §17.2.3; the caller folds ACK
    /// and, for CANCEL targeting, CANCEL onto INVITE as §9.2 says).
    ///
    /// Without a magic cookie the RFC 2543 fields are used, with the To tag
    /// of the request itself; see [`KeyInner::with_to_tag`] for ACK.
    pub(crate) fn server_for_request(
        seed: &KeySeed,
        request: &Message,
        method: Method,
    ) -> Result<KeyInner, TransactionError> {
        let uri = request.request_uri().ok_or(TransactionError::NotARequest)?;
        let via = request.top_via().ok_or(TransactionError::MissingVia)?;
        let branch = via.branch().map(Branch::new);
        let id = match branch {
            Some(branch) if branch.is_rfc3261() => KeyId::Branch {
                branch,
                sent_by: Some(SentBy {
                    host: match via.host {
                        Host::Domain(d) => Host::Domain(d.to_ascii_lowercase()),
                        ip => ip,
                    },
                    port: via.port,
                }),
            },
            _ => {
                let cseq = request.cseq().ok_or(TransactionError::MissingCSeq)?.seq;
                let call_id = request
                    .call_id()
                    .ok_or(TransactionError::MissingCallId)?
                    .to_string();
                KeyId::Rfc2543(Box::new(Rfc2543Id {
                    request_uri: uri.to_string(),
                    call_id,
                    from_tag: request.from_tag(),
                    to_tag: request.to_tag(),
                    cseq,
                    top_via: via.to_string(),
                }))
            }
        };
        Ok(seed.key(Role::Server, method, id))
    }

    /// The same RFC 2543 key with another To tag; an RFC 3261 key is
    /// returned unchanged.
    pub(crate) fn with_to_tag(self, seed: &KeySeed, tag: Option<String>) -> KeyInner {
        let KeyInner {
            role,
            method,
            mut id,
            ..
        } = self;
        if let KeyId::Rfc2543(fields) = &mut id {
            fields.to_tag = tag;
        }
        seed.key(role, method, id)
    }

    /// The To tag of an RFC 2543 key.
    pub(crate) fn to_tag(&self) -> Option<&str> {
        match &self.id {
            KeyId::Rfc2543(id) => id.to_tag.as_deref(),
            KeyId::Branch { .. } => None,
        }
    }

    pub(crate) fn is_rfc2543(&self) -> bool {
        matches!(self.id, KeyId::Rfc2543(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> KeySeed {
        // One process-wide seed per test: RandomState::new() differs per call.
        thread_local!(static SEED: KeySeed = KeySeed::default());
        SEED.with(Clone::clone)
    }

    fn request(method: &str, via: &str) -> Message {
        let text = format!(
            "{method} sip:bob@example.com SIP/2.0\r\n\
             Via: {via}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:alice@example.com>;tag=1\r\n\
             To: <sip:bob@example.com>\r\n\
             Call-ID: k1@example.com\r\n\
             CSeq: 1 {method}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        Message::parse(text.as_bytes()).expect("test request parses")
    }

    #[test]
    fn ack_and_invite_share_a_server_key_and_cancel_does_not() {
        let via = "SIP/2.0/UDP Host.Example.com:5060;branch=z9hG4bKabc";
        let invite = KeyInner::server_for_request(&seed(), &request("INVITE", via), Method::INVITE)
            .expect("key");
        let ack = KeyInner::server_for_request(&seed(), &request("ACK", via), Method::INVITE)
            .expect("key");
        let cancel = KeyInner::server_for_request(&seed(), &request("CANCEL", via), Method::CANCEL)
            .expect("key");
        assert_eq!(invite, ack);
        assert_ne!(invite, cancel);
    }

    #[test]
    fn sent_by_distinguishes_equal_branches_and_ignores_host_case() {
        let a = KeyInner::server_for_request(
            &seed(),
            &request("OPTIONS", "SIP/2.0/UDP a.example.com;branch=z9hG4bKx"),
            Method::OPTIONS,
        )
        .expect("key");
        let b = KeyInner::server_for_request(
            &seed(),
            &request("OPTIONS", "SIP/2.0/UDP b.example.com;branch=z9hG4bKx"),
            Method::OPTIONS,
        )
        .expect("key");
        let a2 = KeyInner::server_for_request(
            &seed(),
            &request("OPTIONS", "SIP/2.0/UDP A.EXAMPLE.com;branch=z9hG4bKx"),
            Method::OPTIONS,
        )
        .expect("key");
        assert_ne!(a, b);
        assert_eq!(a, a2);
    }

    #[test]
    fn keys_are_found_through_borrow() {
        let msg = request("OPTIONS", "SIP/2.0/UDP a;branch=z9hG4bKx");
        let key = TransactionKey::new(
            KeyInner::server_for_request(&seed(), &msg, Method::OPTIONS).expect("key"),
        );
        let mut map = KeyMap::default();
        map.insert(key.clone(), 1);
        let probe = KeyInner::server_for_request(&seed(), &msg, Method::OPTIONS).expect("key");
        assert_eq!(map.get(&probe), Some(&1));
        assert!(!key.is_rfc2543());
    }

    #[test]
    fn a_missing_cookie_falls_back_to_rfc2543() {
        let msg = request("INVITE", "SIP/2.0/UDP a;branch=1234");
        let k = KeyInner::server_for_request(&seed(), &msg, Method::INVITE).expect("key");
        assert!(k.is_rfc2543());
        let msg = request("INVITE", "SIP/2.0/UDP a");
        assert!(KeyInner::server_for_request(&seed(), &msg, Method::INVITE)
            .expect("key")
            .is_rfc2543());
    }

    #[test]
    fn client_requests_need_a_cookie_and_cannot_be_ack() {
        assert_eq!(
            KeyInner::client_for_request(&seed(), &request("INVITE", "SIP/2.0/UDP a;branch=x")),
            Err(TransactionError::MissingBranch)
        );
        assert_eq!(
            KeyInner::client_for_request(&seed(), &request("ACK", "SIP/2.0/UDP a;branch=z9hG4bKx")),
            Err(TransactionError::AckNotATransaction)
        );
    }
}
