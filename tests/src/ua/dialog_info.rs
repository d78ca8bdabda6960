//! A small reader of RFC 4235 dialog-info documents
//! (`application/dialog-info+xml`), the bodies of `Event: dialog` NOTIFYs,
//! for assertions: which dialogs the notifier reports, in which state, with
//! which Call-ID and tags.
//!
//! Element and attribute names are matched by their local name, so a
//! namespace prefix (`<d:dialog>`) reads the same as the default namespace.
//! Unknown elements and attributes are skipped, as RFC 4235 §4.1 asks.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// One `<dialog-info>` document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DialogInfo {
    /// The `version` attribute (0 when absent or not a number).
    pub version: u32,
    /// The `state` attribute: `full` or `partial`.
    pub state: String,
    /// The `entity` attribute: the subscribed resource (`sip:U@domain`).
    pub entity: String,
    /// Every `<dialog>` element, in document order.
    pub dialogs: Vec<DialogEntry>,
}

/// One `<dialog>` element of a [`DialogInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DialogEntry {
    /// The `id` attribute.
    pub id: String,
    /// The `call-id` attribute ("" when absent).
    pub call_id: String,
    /// The `local-tag` attribute: the tag of the subscribed user's side.
    pub local_tag: String,
    /// The `remote-tag` attribute: the tag of the other side.
    pub remote_tag: String,
    /// The `direction` attribute: `initiator` or `recipient` ("" when
    /// absent).
    pub direction: String,
    /// The text of `<state>`: `trying`, `proceeding`, `early`,
    /// `confirmed` or `terminated`.
    pub state: String,
    /// The `event` attribute of `<state>` (`replaced`, `cancelled`,
    /// `rejected`, `local-bye`, `remote-bye`, `error`, `timeout`).
    pub event: Option<String>,
    /// The `code` attribute of `<state>` (the response code that ended or
    /// moved the dialog).
    pub code: Option<u16>,
    /// The `uri` of `<local><target>`: the subscribed user's device
    /// (its Contact).
    pub target: Option<String>,
    /// The text of `<local><identity>`.
    pub local_identity: Option<String>,
    /// The text of `<remote><identity>`.
    pub remote_identity: Option<String>,
    /// The `uri` of `<remote><target>`.
    pub remote_target: Option<String>,
    /// The text of `<duration>`, in seconds.
    pub duration: Option<u64>,
}

impl DialogInfo {
    /// Parses a document; `Err` says why it is not well-formed XML or has
    /// no `<dialog-info>` root.
    pub fn parse(xml: &str) -> Result<DialogInfo, String> {
        let mut reader = Reader::from_str(xml);
        let mut info: Option<DialogInfo> = None;
        // Local names of the open elements, outermost first.
        let mut path: Vec<String> = Vec::new();
        let mut text = String::new();
        loop {
            let event = reader
                .read_event()
                .map_err(|e| format!("at byte {}: {e}", reader.error_position()))?;
            match event {
                Event::Start(e) => {
                    open(&e, &path, &mut info)?;
                    path.push(local_name(&e));
                    text.clear();
                }
                Event::Empty(e) => open(&e, &path, &mut info)?,
                Event::Text(t) => text.push_str(&t.xml10_content()),
                Event::CData(t) => text.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => {
                    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
                        text.push(c);
                    } else {
                        text.push_str(match &*r {
                            "amp" => "&",
                            "lt" => "<",
                            "gt" => ">",
                            "quot" => "\"",
                            "apos" => "'",
                            other => return Err(format!("unknown entity &{other};")),
                        });
                    }
                }
                Event::End(_) => {
                    close(&path, text.trim(), &mut info);
                    path.pop();
                    text.clear();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        info.ok_or_else(|| "no <dialog-info> element".to_string())
    }

    /// The entry with this Call-ID, if reported.
    pub fn dialog_by_call_id(&self, call_id: &str) -> Option<&DialogEntry> {
        self.dialogs.iter().find(|d| d.call_id == call_id)
    }
}

fn local_name(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_string()
}

/// The attributes of an element, by local name, unescaped.
fn attributes(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, String> {
    e.attributes()
        .map(|a| {
            let a = a.map_err(|e| e.to_string())?;
            let name = a.key.local_name().as_ref().to_string();
            let value = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| e.to_string())?
                .into_owned();
            Ok((name, value))
        })
        .collect()
}

fn attr(attrs: &[(String, String)], name: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// An element opens (or is empty) below `path`.
fn open(e: &BytesStart<'_>, path: &[String], info: &mut Option<DialogInfo>) -> Result<(), String> {
    let name = local_name(e);
    let parent = path.last().map(String::as_str);
    match (name.as_str(), parent) {
        ("dialog-info", None) => {
            let attrs = attributes(e)?;
            *info = Some(DialogInfo {
                version: attr(&attrs, "version")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0),
                state: attr(&attrs, "state").unwrap_or_default(),
                entity: attr(&attrs, "entity").unwrap_or_default(),
                dialogs: Vec::new(),
            });
        }
        ("dialog", Some("dialog-info")) => {
            let attrs = attributes(e)?;
            if let Some(info) = info.as_mut() {
                info.dialogs.push(DialogEntry {
                    id: attr(&attrs, "id").unwrap_or_default(),
                    call_id: attr(&attrs, "call-id").unwrap_or_default(),
                    local_tag: attr(&attrs, "local-tag").unwrap_or_default(),
                    remote_tag: attr(&attrs, "remote-tag").unwrap_or_default(),
                    direction: attr(&attrs, "direction").unwrap_or_default(),
                    ..DialogEntry::default()
                });
            }
        }
        ("state", Some("dialog")) => {
            let attrs = attributes(e)?;
            if let Some(d) = current(info) {
                d.event = attr(&attrs, "event");
                d.code = attr(&attrs, "code").and_then(|c| c.trim().parse().ok());
            }
        }
        ("target", Some(side @ ("local" | "remote"))) => {
            let uri = attr(&attributes(e)?, "uri");
            if let Some(d) = current(info) {
                if side == "local" {
                    d.target = uri;
                } else {
                    d.remote_target = uri;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The last element of `path` closes with this (trimmed) text.
fn close(path: &[String], text: &str, info: &mut Option<DialogInfo>) {
    let n = path.len();
    let name = path.last().map(String::as_str);
    let parent = n.checked_sub(2).map(|i| path[i].as_str());
    let Some(d) = current(info) else {
        return;
    };
    match (name, parent) {
        (Some("state"), Some("dialog")) => d.state = text.to_string(),
        (Some("duration"), Some("dialog")) => d.duration = text.parse().ok(),
        (Some("identity"), Some("local")) => d.local_identity = Some(text.to_string()),
        (Some("identity"), Some("remote")) => d.remote_identity = Some(text.to_string()),
        _ => {}
    }
}

fn current(info: &mut Option<DialogInfo>) -> Option<&mut DialogEntry> {
    info.as_mut().and_then(|i| i.dialogs.last_mut())
}
