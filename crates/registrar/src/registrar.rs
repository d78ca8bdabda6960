use crate::{Binding, Refusal, RegisterOutcome, RegistrarConfig, Source};
use sip_message::{ContactValue, HeaderName, Message, Uri};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The binding table.
#[derive(Debug, Default)]
pub struct Registrar {
    config: RegistrarConfig,
    bindings: HashMap<String, Vec<Binding>>,
}

/// A contact of the request, read and checked.
struct Wanted {
    uri: Uri,
    value: String,
    instance: Option<String>,
    q: u16,
    expires: Duration,
}

impl Registrar {
    /// An empty table with this policy.
    pub fn new(config: RegistrarConfig) -> Self {
        Registrar {
            config,
            bindings: HashMap::new(),
        }
    }

    /// The policy.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// The key of an AOR: `user@host`, lower-cased host (§10.3 step 5
    /// canonicalisation, reduced to what our single domain needs).
    pub fn aor_key(user: &str, domain: &str) -> String {
        format!("{user}@{}", domain.to_ascii_lowercase())
    }

    /// Applies an authenticated REGISTER for `aor` (§10.3 steps 6–8). On
    /// success the table holds the new bindings and the outcome lists them
    /// all; on refusal nothing changed.
    pub fn register(
        &mut self,
        now: Instant,
        aor: &str,
        request: &Message,
        source: Source,
    ) -> Result<RegisterOutcome, Refusal> {
        let call_id = request.call_id().unwrap_or_default().to_string();
        let cseq = request.cseq().map_or(0, |c| c.seq);
        let header_expires = request
            .header(&HeaderName::Expires)
            .and_then(|v| v.trim().parse::<u64>().ok());
        let contacts = request.contacts();
        if contacts.len() != request.headers.count(&HeaderName::Contact) {
            return Err(Refusal::BadContact);
        }
        self.expire_aor(now, aor);
        if contacts.iter().any(|c| matches!(c, ContactValue::Star)) {
            if contacts.len() != 1 || header_expires != Some(0) {
                return Err(Refusal::BadWildcard);
            }
            let existing = self.bindings.remove(aor).unwrap_or_default();
            // Step 6: a binding of another Call-ID, or an older CSeq, goes.
            if existing
                .iter()
                .any(|b| b.call_id == call_id && cseq <= b.cseq)
            {
                self.bindings.insert(aor.to_string(), existing);
                return Err(Refusal::OutOfOrder);
            }
            return Ok(RegisterOutcome {
                bindings: Vec::new(),
                added: 0,
                removed: existing.len(),
            });
        }
        let wanted: Vec<Wanted> = contacts
            .into_iter()
            .map(|c| self.read_contact(c, header_expires))
            .collect::<Result<_, _>>()?;
        let mut table = self.bindings.get(aor).cloned().unwrap_or_default();
        let (mut added, mut removed) = (0, 0);
        for w in wanted {
            let existing = table
                .iter()
                .position(|b| b.same_contact(&w.uri, w.instance.as_deref()));
            if let Some(i) = existing {
                if table[i].call_id == call_id && cseq <= table[i].cseq {
                    return Err(Refusal::OutOfOrder);
                }
                if w.expires.is_zero() {
                    table.remove(i);
                    removed += 1;
                    continue;
                }
                table[i] = binding(w, now, &call_id, cseq, source);
            } else if !w.expires.is_zero() {
                table.push(binding(w, now, &call_id, cseq, source));
                added += 1;
            }
        }
        if table.len() > self.config.max_bindings_per_aor {
            return Err(Refusal::TooManyBindings {
                limit: self.config.max_bindings_per_aor,
            });
        }
        table.sort_by_key(|b| std::cmp::Reverse(b.q));
        let bindings = table
            .iter()
            .map(|b| (b.contact_value.clone(), b.expires_in(now)))
            .collect();
        if table.is_empty() {
            self.bindings.remove(aor);
        } else {
            self.bindings.insert(aor.to_string(), table);
        }
        Ok(RegisterOutcome {
            bindings,
            added,
            removed,
        })
    }

    fn read_contact(
        &self,
        contact: ContactValue,
        header_expires: Option<u64>,
    ) -> Result<Wanted, Refusal> {
        let ContactValue::Addr(addr) = contact else {
            return Err(Refusal::BadWildcard);
        };
        if matches!(addr.uri, Uri::Other(_)) {
            return Err(Refusal::BadContact);
        }
        let secs = addr
            .params
            .value("expires")
            .and_then(|v| v.parse::<u64>().ok())
            .or(header_expires)
            .unwrap_or(self.config.default_expires.as_secs());
        let expires = Duration::from_secs(secs);
        if !expires.is_zero() && expires < self.config.min_expires {
            return Err(Refusal::IntervalTooBrief {
                min_secs: self.config.min_expires.as_secs(),
            });
        }
        let expires = expires.min(self.config.max_expires);
        let q = match addr.params.value("q") {
            Some(v) => parse_q(v).ok_or(Refusal::BadContact)?,
            None => 1000,
        };
        let instance = addr
            .params
            .value("+sip.instance")
            .map(|v| v.trim_matches('"').to_string());
        // The 200 lists contacts without the request's expires (we add ours).
        let mut shown = addr.clone();
        shown.params.remove("expires");
        Ok(Wanted {
            uri: addr.uri,
            value: shown.to_string(),
            instance,
            q,
            expires,
        })
    }

    /// The live bindings of `aor`, highest `q` first.
    pub fn lookup(&self, now: Instant, aor: &str) -> Vec<&Binding> {
        self.bindings
            .get(aor)
            .map(|v| v.iter().filter(|b| b.expires_at > now).collect())
            .unwrap_or_default()
    }

    /// Removes lapsed bindings everywhere; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        self.bindings.retain(|_, v| {
            let before = v.len();
            v.retain(|b| b.expires_at > now);
            removed += before - v.len();
            !v.is_empty()
        });
        removed
    }

    fn expire_aor(&mut self, now: Instant, aor: &str) {
        if let Some(v) = self.bindings.get_mut(aor) {
            v.retain(|b| b.expires_at > now);
        }
    }

    /// Live bindings in the table (for `baton_registrations_active`).
    pub fn len(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }

    /// True when no AOR has a binding.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// The next instant a binding lapses, for the expiry timer.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }
}

fn binding(w: Wanted, now: Instant, call_id: &str, cseq: u32, source: Source) -> Binding {
    Binding {
        contact: w.uri,
        contact_value: w.value,
        instance: w.instance,
        q: w.q,
        expires_at: now + w.expires,
        call_id: call_id.to_string(),
        cseq,
        source,
    }
}

/// `q` is `0` to `1` with up to three decimals (RFC 3261 §20.10).
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int: u16 = int.parse().ok()?;
    let frac: u16 = format!("{frac:0<3}").parse().ok()?;
    let q = int.checked_mul(1000)?.checked_add(frac)?;
    (q <= 1000).then_some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Source {
        Source {
            transport: "udp",
            addr: "127.0.0.1:5062".parse().expect("addr"),
        }
    }

    fn register(call_id: &str, cseq: u32, contacts: &[&str], expires: Option<u64>) -> Message {
        let mut text = format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK{cseq}{call_id}\r\n\
             From: <sip:alice@example.com>;tag=f\r\nTo: <sip:alice@example.com>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
        );
        for c in contacts {
            text.push_str(&format!("Contact: {c}\r\n"));
        }
        if let Some(e) = expires {
            text.push_str(&format!("Expires: {e}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        Message::parse(text.as_bytes()).expect("parses")
    }

    const AOR: &str = "alice@example.com";

    #[test]
    fn several_contacts_ordered_by_q_then_one_removed() {
        let now = Instant::now();
        let mut r = Registrar::default();
        let out = r
            .register(
                now,
                AOR,
                &register(
                    "c1",
                    1,
                    &["<sip:a@10.0.0.1>;q=0.5", "<sip:a@10.0.0.2>;q=0.9"],
                    Some(600),
                ),
                source(),
            )
            .expect("registered");
        assert_eq!(out.added, 2);
        assert_eq!(out.bindings[0].0, "<sip:a@10.0.0.2>;q=0.9");
        assert_eq!(out.bindings[0].1, 600);
        let out = r
            .register(
                now,
                AOR,
                &register("c1", 2, &["<sip:a@10.0.0.1>;expires=0"], None),
                source(),
            )
            .expect("ok");
        assert_eq!((out.removed, out.bindings.len()), (1, 1));
        assert_eq!(r.lookup(now, AOR).len(), 1);
    }

    #[test]
    fn interval_too_brief_and_the_cap_on_expires() {
        let now = Instant::now();
        let mut r = Registrar::default();
        assert_eq!(
            r.register(
                now,
                AOR,
                &register("c1", 1, &["<sip:a@10.0.0.1>"], Some(10)),
                source()
            ),
            Err(Refusal::IntervalTooBrief { min_secs: 60 })
        );
        let out = r
            .register(
                now,
                AOR,
                &register("c1", 2, &["<sip:a@10.0.0.1>"], Some(999_999)),
                source(),
            )
            .expect("ok");
        assert_eq!(out.bindings[0].1, 3600);
    }

    #[test]
    fn wildcard_unregisters_everything_only_with_expires_zero() {
        let now = Instant::now();
        let mut r = Registrar::default();
        r.register(
            now,
            AOR,
            &register("c1", 1, &["<sip:a@10.0.0.1>", "<sip:a@10.0.0.2>"], None),
            source(),
        )
        .expect("ok");
        assert_eq!(
            r.register(now, AOR, &register("c2", 1, &["*"], None), source()),
            Err(Refusal::BadWildcard)
        );
        let out = r
            .register(now, AOR, &register("c2", 1, &["*"], Some(0)), source())
            .expect("ok");
        assert_eq!(out.removed, 2);
        assert!(r.lookup(now, AOR).is_empty());
        assert!(r.is_empty());
    }

    #[test]
    fn a_contact_storm_is_refused_and_changes_nothing() {
        let now = Instant::now();
        let mut r = Registrar::default();
        let many: Vec<String> = (0..11).map(|i| format!("<sip:a@10.0.0.{i}>")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            r.register(now, AOR, &register("c1", 1, &refs, None), source()),
            Err(Refusal::TooManyBindings { limit: 10 })
        );
        assert!(r.lookup(now, AOR).is_empty());
    }

    #[test]
    fn an_old_register_arriving_late_is_refused() {
        let now = Instant::now();
        let mut r = Registrar::default();
        r.register(
            now,
            AOR,
            &register("c1", 5, &["<sip:a@10.0.0.1>"], None),
            source(),
        )
        .expect("ok");
        assert_eq!(
            r.register(
                now,
                AOR,
                &register("c1", 4, &["<sip:a@10.0.0.1>"], None),
                source()
            ),
            Err(Refusal::OutOfOrder)
        );
        // Another Call-ID (the phone rebooted) always replaces.
        r.register(
            now,
            AOR,
            &register("c2", 1, &["<sip:a@10.0.0.1>"], None),
            source(),
        )
        .expect("ok");
        assert_eq!(r.lookup(now, AOR)[0].call_id, "c2");
    }

    #[test]
    fn instance_id_identifies_the_device_across_addresses() {
        let now = Instant::now();
        let mut r = Registrar::default();
        let inst = "+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\"";
        r.register(
            now,
            AOR,
            &register("c1", 1, &[&format!("<sip:a@10.0.0.1>;{inst}")], None),
            source(),
        )
        .expect("ok");
        r.register(
            now,
            AOR,
            &register("c2", 1, &[&format!("<sip:a@10.0.0.99>;{inst}")], None),
            source(),
        )
        .expect("ok");
        let live = r.lookup(now, AOR);
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].contact.to_string(), "sip:a@10.0.0.99");
    }

    #[test]
    fn a_contact_without_instance_never_replaces_one_with_an_instance() {
        let now = Instant::now();
        let mut r = Registrar::default();
        let inst = "+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\"";
        r.register(
            now,
            AOR,
            &register("device", 1, &[&format!("<sip:a@10.0.0.1>;{inst}")], None),
            source(),
        )
        .expect("ok");
        // Another device of the user registers the same URI bare.
        r.register(
            now,
            AOR,
            &register("other", 1, &["<sip:a@10.0.0.1>"], None),
            source(),
        )
        .expect("ok");
        let live = r.lookup(now, AOR);
        assert_eq!(live.len(), 2, "two devices, two bindings");
        assert!(
            live.iter()
                .any(|b| b.call_id == "device" && b.instance.is_some()),
            "the device's own binding (and its Call-ID) is intact"
        );
    }

    #[test]
    fn bindings_lapse() {
        let now = Instant::now();
        let mut r = Registrar::default();
        r.register(
            now,
            AOR,
            &register("c1", 1, &["<sip:a@10.0.0.1>"], Some(60)),
            source(),
        )
        .expect("ok");
        assert_eq!(r.next_expiry(), Some(now + Duration::from_secs(60)));
        assert_eq!(r.lookup(now + Duration::from_secs(61), AOR).len(), 0);
        assert_eq!(r.expire(now + Duration::from_secs(61)), 1);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn uri_parameters_are_kept_and_contact_parameters_are_not_uri_parameters() {
        let now = Instant::now();
        let mut r = Registrar::default();
        // RFC 4475 cparam01 / cparam02.
        r.register(
            now,
            AOR,
            &register(
                "c1",
                1,
                &["sip:+19725552222@gw1.example.net;unknownparam"],
                None,
            ),
            source(),
        )
        .expect("ok");
        let b = r.lookup(now, AOR)[0].contact.clone();
        assert_eq!(b.to_string(), "sip:+19725552222@gw1.example.net");
        r.register(
            now,
            "bob@example.com",
            &register(
                "c2",
                1,
                &["<sip:+19725552222@gw1.example.net;unknownparam>"],
                None,
            ),
            source(),
        )
        .expect("ok");
        let b = r.lookup(now, "bob@example.com")[0].contact.clone();
        assert_eq!(
            b.to_string(),
            "sip:+19725552222@gw1.example.net;unknownparam"
        );
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("0.001"), Some(1));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("x"), None);
    }
}
