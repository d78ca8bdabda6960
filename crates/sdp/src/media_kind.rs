/// What a media description carries, from the media field of `m=`
/// (RFC 8866 §5.14). Baton anchors audio and video; everything else
/// (`image` for T.38, `application`, `text`, `message`) is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `m=audio`.
    Audio,
    /// `m=video`.
    Video,
    /// Any other media type; [`Media::media_type`](crate::Media::media_type)
    /// has the name.
    Other,
}

impl MediaKind {
    pub(crate) fn from_media_type(media_type: &str) -> Self {
        match media_type.parse::<sdp_types::MediaType>() {
            Ok(sdp_types::MediaType::Audio) => MediaKind::Audio,
            Ok(sdp_types::MediaType::Video) => MediaKind::Video,
            _ => MediaKind::Other,
        }
    }
}
