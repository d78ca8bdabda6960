//! `application/dialog-info+xml` bodies (RFC 4235 §4).

use quick_xml::escape::escape;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Who sent the dialog's INVITE, seen from the device (RFC 4235 §4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The device sent it: `direction="initiator"`.
    Initiator,
    /// Baton sent it to the device: `direction="recipient"`.
    Recipient,
}

/// Where a dialog is (RFC 4235 §3.7.1 `<state>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `early`: ringing.
    Early,
    /// `confirmed`: answered.
    Confirmed,
    /// `terminated`; `replaced` adds `event="replaced"` (a handover moved
    /// the call to another device).
    Terminated {
        /// Ended by a handover.
        replaced: bool,
    },
}

impl Phase {
    /// True for [`Phase::Terminated`].
    pub fn is_terminated(self) -> bool {
        matches!(self, Phase::Terminated { .. })
    }
}

/// One dialog of a user's device with Baton, as the package reports it.
///
/// "Local" is the device (the user's side), "remote" the far party; so
/// `local_tag` is the device's tag and `remote_tag` Baton's (see the crate
/// docs for the Replaces header this gives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogState {
    /// The user (user part of the AOR, e.g. `alice`).
    pub user: String,
    /// The dialog's Call-ID.
    pub call_id: String,
    /// The device's tag (`local-tag`).
    pub local_tag: String,
    /// Baton's tag (`remote-tag`).
    pub remote_tag: String,
    /// Who sent the INVITE.
    pub direction: Direction,
    /// The device's Contact URI (`<local><target uri=…>`).
    pub local_target: String,
    /// The far party's URI (`<remote><identity>`).
    pub remote_identity: String,
    /// The far party's display name, if known.
    pub remote_display: Option<String>,
    /// Where the dialog is.
    pub phase: Phase,
    /// On hold: reported as `+sip.rendering="no"` on the local target
    /// (RFC 4235 §4.1.6.2), which is what phones show as "held".
    pub on_hold: bool,
}

impl DialogState {
    /// True when both describe the same dialog (Call-ID and both tags).
    pub fn same_dialog(&self, other: &DialogState) -> bool {
        self.call_id == other.call_id
            && self.local_tag == other.local_tag
            && self.remote_tag == other.remote_tag
    }
}

/// The `id` attribute of a dialog: FNV-1a over Call-ID and both tags.
///
/// A hash rather than a process-seeded one so that the id stays the same
/// across restarts and across nodes of a cluster, as RFC 4235 §4.1.2 asks of
/// an id for the life of the dialog.
pub fn dialog_id(call_id: &str, local_tag: &str, remote_tag: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [call_id, local_tag, remote_tag] {
        // The separator keeps ("ab","c") and ("a","bc") apart.
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// A whole document: `state="full"`, this `version`, `entity`, one
/// `<dialog>` per element of `dialogs`, in order.
pub fn render(entity: &str, version: u32, dialogs: &[&DialogState]) -> Vec<u8> {
    let mut inner = String::new();
    for dialog in dialogs {
        render_dialog(&mut inner, entity, dialog);
    }
    wrap(entity, version, &inner)
}

/// The document around already rendered `<dialog>` elements: the table
/// renders the dialogs once and wraps them per subscription, as only the
/// version differs between subscribers.
pub(crate) fn wrap(entity: &str, version: u32, dialogs: &str) -> Vec<u8> {
    let mut out = String::with_capacity(dialogs.len() + 200);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        out,
        "<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"{version}\" state=\"full\" entity=\""
    );
    push_escaped(&mut out, entity);
    out.push_str("\">\n");
    out.push_str(dialogs);
    out.push_str("</dialog-info>\n");
    out.into_bytes()
}

/// One `<dialog>` element; `entity` is the user's AOR (`<local><identity>`).
pub(crate) fn render_dialog(out: &mut String, entity: &str, d: &DialogState) {
    out.push_str("<dialog id=\"");
    out.push_str(&dialog_id(&d.call_id, &d.local_tag, &d.remote_tag));
    for (name, value) in [
        ("call-id", &d.call_id),
        ("local-tag", &d.local_tag),
        ("remote-tag", &d.remote_tag),
    ] {
        let _ = write!(out, "\" {name}=\"");
        push_escaped(out, value);
    }
    out.push_str("\" direction=\"");
    out.push_str(match d.direction {
        Direction::Initiator => "initiator",
        Direction::Recipient => "recipient",
    });
    out.push_str("\">\n");
    out.push_str(match d.phase {
        Phase::Early => "<state>early</state>\n",
        Phase::Confirmed => "<state>confirmed</state>\n",
        Phase::Terminated { replaced: true } => "<state event=\"replaced\">terminated</state>\n",
        Phase::Terminated { replaced: false } => "<state>terminated</state>\n",
    });
    out.push_str("<local><identity>");
    push_escaped(out, entity);
    out.push_str("</identity><target uri=\"");
    push_escaped(out, &d.local_target);
    if d.on_hold {
        out.push_str("\"><param pname=\"+sip.rendering\" pvalue=\"no\"/></target></local>\n");
    } else {
        out.push_str("\"/></local>\n");
    }
    out.push_str("<remote><identity");
    if let Some(display) = &d.remote_display {
        out.push_str(" display=\"");
        push_escaped(out, display);
        out.push('"');
    }
    out.push('>');
    push_escaped(out, &d.remote_identity);
    out.push_str("</identity></remote>\n</dialog>\n");
}

/// Appends `raw` escaped for text and attribute values alike.
///
/// Characters XML 1.0 forbids even as references (C0 controls but tab, LF,
/// CR; U+FFFE, U+FFFF) become U+FFFD first: a display name can carry them
/// (RFC 4475 allows escaped controls in quoted strings) and one such byte
/// would make the whole document unparseable for the subscriber.
fn push_escaped(out: &mut String, raw: &str) {
    let clean: Cow<'_, str> = if raw.chars().all(is_xml_char) {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(
            raw.chars()
                .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    };
    out.push_str(&escape(clean));
}

fn is_xml_char(c: char) -> bool {
    !matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}
