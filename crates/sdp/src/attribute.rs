/// One `a=` line, borrowed from a [`SessionDescription`](crate::SessionDescription),
/// exactly as received: `a=<name>` or `a=<name>:<value>` (RFC 8866 §5.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// The attribute name, before the first colon.
    pub name: &'a str,
    /// The value after the first colon, untouched (leading spaces kept);
    /// `None` for a property attribute such as `a=sendonly`.
    pub value: Option<&'a str>,
}

impl<'a> Attribute<'a> {
    pub(crate) fn from_sdp_types(attribute: &'a sdp_types::Attribute) -> Self {
        Attribute {
            name: &attribute.attribute,
            value: attribute.value.as_deref(),
        }
    }

    /// Whether the attribute belongs to ICE (RFC 8839): `a=candidate`,
    /// `a=remote-candidates`, `a=end-of-candidates` and every `a=ice-*`.
    pub fn is_ice(&self) -> bool {
        let name = self.name;
        name.eq_ignore_ascii_case("candidate")
            || name.eq_ignore_ascii_case("remote-candidates")
            || name.eq_ignore_ascii_case("end-of-candidates")
            || name
                .get(..4)
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case("ice-"))
    }
}
