//! Frames on a node-to-node stream: a checked header, then opaque payload
//! bytes (an rkyv archive of a message, once messages exist).
//!
//! ```text
//!  0      4         6          10        14
//!  ┌──────┬─────────┬──────────┬─────────┬──────────────────────┐
//!  │magic │ version │ len      │ crc32   │ payload (len B)      │
//!  │4 B   │ u16 LE  │ u32 LE   │ u32 LE  │                      │
//!  └──────┴─────────┴──────────┴─────────┴──────────────────────┘
//! ```
//!
//! The layout is the one `cluster/raft`'s codec uses for log entries, with
//! its own magic (`BtNF`, "node frame") so that bytes from one place are
//! never taken for the other, and its own [`FORMAT_VERSION`]: the wire and
//! the disk evolve separately.
//!
//! The decoder is sans-IO: it is handed whatever pieces a stream delivers
//! and yields whole frames. The header is checked as soon as its 14 bytes
//! are in, in this order: magic, version, length against the configured
//! maximum. Only then is payload buffered, so a peer cannot make a node
//! allocate more than that maximum by announcing a huge frame. The CRC is
//! checked once the payload is complete. Any error poisons the decoder:
//! the stream has lost its framing and cannot be resynchronised, so the
//! caller closes it.

/// The four bytes that open every node-to-node frame.
pub const MAGIC: [u8; 4] = *b"BtNF";

/// The wire format version written in every frame.
///
/// A frame of any other version is refused with
/// [`FrameError::UnsupportedVersion`]. Two nodes of different versions
/// cannot talk until a converter exists; a rolling upgrade will need
/// one (or version negotiation at connection setup).
///
/// # History
///
/// - **1** (current): the first format.
pub const FORMAT_VERSION: u16 = 1;

/// Length of the frame header in bytes.
pub const HEADER_LEN: usize = 14;

/// A maximum payload that suits Raft RPCs and call control: 16 MiB.
///
/// Snapshots larger than this are to be sent in chunks.
pub const DEFAULT_MAX_PAYLOAD: u32 = 16 * 1024 * 1024;

/// Payload bytes reserved when a frame's header arrives. The buffer then
/// grows with the bytes that actually arrive, so a peer that announces a
/// large frame and sends little costs little.
const INITIAL_RESERVE: usize = 64 * 1024;

/// Why bytes could not be framed or a stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header does not open with [`MAGIC`]: the peer does not speak
    /// this protocol, or the stream lost its framing.
    #[error("frame opens with {found:02x?}, not the node frame magic")]
    BadMagic {
        /// The four bytes found.
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
    /// The payload is longer than the configured maximum (or than a `u32`).
    #[error("a {len}-byte payload exceeds the {max}-byte maximum")]
    TooLarge {
        /// Payload length, announced in a header or handed to the encoder.
        len: u64,
        /// The configured maximum.
        max: u32,
    },
    /// The payload does not match its checksum.
    #[error(
        "frame checksum mismatch: header says {declared:#010x}, payload hashes to {computed:#010x}"
    )]
    BadCrc {
        /// CRC-32 in the header.
        declared: u32,
        /// CRC-32 of the payload received.
        computed: u32,
    },
    /// The stream ended inside a frame.
    #[error("stream ended {received} bytes into a {expected}-byte frame")]
    Truncated {
        /// Bytes of the cut frame received (header included).
        received: usize,
        /// Bytes the frame needs: the header alone while the header is
        /// incomplete, else header plus declared payload.
        expected: usize,
    },
}

/// Appends the frame of `payload` to `out`.
///
/// Refuses a payload longer than `max_payload`: the peer would refuse the
/// frame and close the stream, so the sender learns it here instead.
pub fn encode_into(payload: &[u8], max_payload: u32, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len <= max_payload)
        .ok_or(FrameError::TooLarge {
            len: payload.len() as u64,
            max: max_payload,
        })?;
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// The frame of `payload`. See [`encode_into`].
pub fn encode(payload: &[u8], max_payload: u32) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    encode_into(payload, max_payload, &mut out)?;
    Ok(out)
}

/// Where the decoder stands in the current frame.
#[derive(Debug)]
enum State {
    /// Collecting the header; `filled` bytes of it are in.
    Header {
        bytes: [u8; HEADER_LEN],
        filled: usize,
    },
    /// The header passed its checks; collecting `len` payload bytes.
    Payload {
        len: usize,
        crc: u32,
        bytes: Vec<u8>,
    },
}

impl State {
    const fn start() -> Self {
        State::Header {
            bytes: [0; HEADER_LEN],
            filled: 0,
        }
    }
}

/// Cuts a byte stream, delivered in any pieces, into frame payloads.
///
/// ```
/// use baton_cluster_transport::frame::{encode, FrameDecoder, DEFAULT_MAX_PAYLOAD};
///
/// let stream = encode(b"hello", DEFAULT_MAX_PAYLOAD).expect("small payload");
/// let mut decoder = FrameDecoder::new(DEFAULT_MAX_PAYLOAD);
/// let (first, second) = stream.split_at(3);
/// assert_eq!(decoder.next_frame(&mut &first[..]), Ok(None));
/// assert_eq!(decoder.next_frame(&mut &second[..]), Ok(Some(b"hello".to_vec())));
/// assert_eq!(decoder.finish(), Ok(()));
/// ```
#[derive(Debug)]
pub struct FrameDecoder {
    max_payload: u32,
    state: State,
    /// Set by the first error; every later call returns it.
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder that refuses frames whose payload exceeds `max_payload`.
    pub const fn new(max_payload: u32) -> Self {
        FrameDecoder {
            max_payload,
            state: State::start(),
            failed: None,
        }
    }

    /// The largest payload this decoder accepts.
    pub const fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// Bytes of the current, incomplete frame held (header included).
    pub fn buffered(&self) -> usize {
        match &self.state {
            State::Header { filled, .. } => *filled,
            State::Payload { bytes, .. } => HEADER_LEN + bytes.len(),
        }
    }

    /// Takes bytes from the front of `input` and returns the next whole
    /// frame's payload, or `Ok(None)` once `input` is used up without
    /// completing one (more bytes are needed: not an error).
    ///
    /// Takes no byte past the end of the frame it returns, so call it
    /// again with the rest of `input` until it returns `Ok(None)`. After
    /// an error the stream's framing is lost: this and [`Self::finish`]
    /// return the same error from then on, and the caller closes the
    /// stream.
    pub fn next_frame(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        loop {
            match &mut self.state {
                State::Header { bytes, filled } => {
                    let take = (HEADER_LEN - *filled).min(input.len());
                    bytes[*filled..*filled + take].copy_from_slice(&input[..take]);
                    *filled += take;
                    *input = &input[take..];
                    if *filled < HEADER_LEN {
                        return Ok(None);
                    }
                    let header = *bytes;
                    match self.check_header(&header) {
                        Ok((len, crc)) => {
                            self.state = State::Payload {
                                len,
                                crc,
                                bytes: Vec::with_capacity(len.min(INITIAL_RESERVE)),
                            }
                        }
                        Err(error) => return Err(self.fail(error)),
                    }
                }
                State::Payload { len, crc, bytes } => {
                    let take = (*len - bytes.len()).min(input.len());
                    bytes.extend_from_slice(&input[..take]);
                    *input = &input[take..];
                    if bytes.len() < *len {
                        return Ok(None);
                    }
                    let declared = *crc;
                    let payload = std::mem::take(bytes);
                    self.state = State::start();
                    let computed = crc32fast::hash(&payload);
                    if computed != declared {
                        return Err(self.fail(FrameError::BadCrc { declared, computed }));
                    }
                    return Ok(Some(payload));
                }
            }
        }
    }

    /// Says the stream has ended: `Ok` if it ended between frames,
    /// [`FrameError::Truncated`] if inside one.
    pub fn finish(&mut self) -> Result<(), FrameError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let expected = match &self.state {
            State::Header { filled: 0, .. } => return Ok(()),
            State::Header { .. } => HEADER_LEN,
            State::Payload { len, .. } => HEADER_LEN + len,
        };
        let error = FrameError::Truncated {
            received: self.buffered(),
            expected,
        };
        Err(self.fail(error))
    }

    /// Checks magic, version and length; returns the payload length and
    /// CRC.
    fn check_header(&self, header: &[u8; HEADER_LEN]) -> Result<(usize, u32), FrameError> {
        let field = |at: usize| [header[at], header[at + 1], header[at + 2], header[at + 3]];
        let magic = field(0);
        if magic != MAGIC {
            return Err(FrameError::BadMagic { found: magic });
        }
        let version = u16::from_le_bytes([header[4], header[5]]);
        if version != FORMAT_VERSION {
            return Err(FrameError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let len = u32::from_le_bytes(field(6));
        if len > self.max_payload {
            return Err(FrameError::TooLarge {
                len: u64::from(len),
                max: self.max_payload,
            });
        }
        // u32 to usize is lossless on every target Baton builds for (>= 32 bit).
        Ok((len as usize, u32::from_le_bytes(field(10))))
    }

    /// Poisons the decoder with `error`, drops what it buffered, and
    /// returns the error.
    fn fail(&mut self, error: FrameError) -> FrameError {
        self.state = State::start();
        self.failed = Some(error.clone());
        error
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    const MAX: u32 = 1024;

    /// Feeds `chunks` in order and collects the frames; the first error
    /// ends the stream.
    fn decode_chunks<'a>(
        decoder: &mut FrameDecoder,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut frames = Vec::new();
        for mut chunk in chunks {
            while let Some(frame) = decoder.next_frame(&mut chunk)? {
                frames.push(frame);
            }
            assert!(chunk.is_empty(), "Ok(None) leaves no input behind");
        }
        decoder.finish()?;
        Ok(frames)
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        encode(payload, MAX).expect("payload within the maximum")
    }

    /// A header with the given fields.
    fn header(magic: [u8; 4], version: u16, len: u32, crc: u32) -> Vec<u8> {
        let mut out = magic.to_vec();
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn round_trip() {
        for payload in [
            &b""[..],
            b"x",
            b"a raft append entries request",
            &[0xa5; 1024],
        ] {
            let bytes = frame(payload);
            assert_eq!(bytes.len(), HEADER_LEN + payload.len());
            assert_eq!(
                bytes[..HEADER_LEN],
                header(
                    MAGIC,
                    FORMAT_VERSION,
                    payload.len() as u32,
                    crc32fast::hash(payload)
                )
            );
            let mut decoder = FrameDecoder::new(MAX);
            assert_eq!(
                decode_chunks(&mut decoder, [&bytes[..]]),
                Ok(vec![payload.to_vec()])
            );
        }
    }

    #[test]
    fn encode_into_appends() {
        let mut out = b"already here".to_vec();
        encode_into(b"abc", MAX, &mut out).expect("small payload");
        assert_eq!(out[..12], *b"already here");
        assert_eq!(out[12..], frame(b"abc"));
    }

    #[test]
    fn every_split_point_of_two_frames_decodes_the_same() {
        let (first, second) = (b"first frame".to_vec(), vec![7u8; 40]);
        let stream = [frame(&first), frame(&second)].concat();
        for at in 0..=stream.len() {
            let mut decoder = FrameDecoder::new(MAX);
            let (head, tail) = stream.split_at(at);
            assert_eq!(
                decode_chunks(&mut decoder, [head, tail]),
                Ok(vec![first.clone(), second.clone()]),
                "split at {at}"
            );
        }
        // And one byte at a time.
        let mut decoder = FrameDecoder::new(MAX);
        assert_eq!(
            decode_chunks(&mut decoder, stream.chunks(1)),
            Ok(vec![first, second])
        );
    }

    #[test]
    fn next_frame_takes_no_byte_past_its_frame() {
        let stream = [frame(b"one"), frame(b"two")].concat();
        let mut decoder = FrameDecoder::new(MAX);
        let mut input = &stream[..];
        assert_eq!(decoder.next_frame(&mut input), Ok(Some(b"one".to_vec())));
        assert_eq!(input, &frame(b"two")[..]);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn stream_ending_inside_a_frame_is_truncated() {
        let whole = frame(b"twelve bytes");
        // An empty stream, or one that ends between frames, is fine.
        assert_eq!(FrameDecoder::new(MAX).finish(), Ok(()));
        for cut in 1..whole.len() {
            let mut decoder = FrameDecoder::new(MAX);
            let mut input = &whole[..cut];
            assert_eq!(decoder.next_frame(&mut input), Ok(None), "cut at {cut}");
            assert_eq!(decoder.buffered(), cut);
            let expected = if cut < HEADER_LEN {
                HEADER_LEN
            } else {
                whole.len()
            };
            assert_eq!(
                decoder.finish(),
                Err(FrameError::Truncated {
                    received: cut,
                    expected
                }),
                "cut at {cut}"
            );
        }
        // A whole frame followed by a cut one: the first is delivered.
        let stream = [whole.clone(), whole[..5].to_vec()].concat();
        let mut decoder = FrameDecoder::new(MAX);
        let mut input = &stream[..];
        assert_eq!(
            decoder.next_frame(&mut input),
            Ok(Some(b"twelve bytes".to_vec()))
        );
        assert_eq!(decoder.next_frame(&mut input), Ok(None));
        assert_eq!(
            decoder.finish(),
            Err(FrameError::Truncated {
                received: 5,
                expected: HEADER_LEN
            })
        );
    }

    #[test]
    fn a_flipped_bit_in_payload_or_crc_is_a_bad_crc() {
        let payload = b"call control".to_vec();
        let whole = frame(&payload);
        let computed = crc32fast::hash(&payload);
        for bit in 10 * 8..whole.len() * 8 {
            let mut damaged = whole.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let mut decoder = FrameDecoder::new(MAX);
            let error = decode_chunks(&mut decoder, [&damaged[..]]).expect_err("damaged");
            assert!(
                matches!(error, FrameError::BadCrc { declared, .. }
                    if (declared == computed) == (bit >= HEADER_LEN * 8)),
                "bit {bit}: {error:?}"
            );
            // The decoder is poisoned: framing is lost.
            assert_eq!(
                decoder.next_frame(&mut &frame(b"ok")[..]),
                Err(error.clone())
            );
            assert_eq!(decoder.finish(), Err(error));
        }
    }

    #[test]
    fn another_version_is_refused_from_the_header_alone() {
        for version in [0, FORMAT_VERSION + 1, u16::MAX] {
            let bytes = header(MAGIC, version, 3, crc32fast::hash(b"abc"));
            let mut decoder = FrameDecoder::new(MAX);
            assert_eq!(
                decoder.next_frame(&mut &bytes[..]),
                Err(FrameError::UnsupportedVersion {
                    found: version,
                    supported: FORMAT_VERSION
                })
            );
        }
    }

    #[test]
    fn bytes_of_another_protocol_are_refused() {
        // Raft's log entry magic, and plain text.
        for magic in [*b"BtRE", *b"GET "] {
            let bytes = header(magic, FORMAT_VERSION, 0, 0);
            let mut decoder = FrameDecoder::new(MAX);
            assert_eq!(
                decoder.next_frame(&mut &bytes[..]),
                Err(FrameError::BadMagic { found: magic })
            );
        }
    }

    #[test]
    fn an_oversized_length_is_refused_before_buffering() {
        for len in [MAX + 1, u32::MAX] {
            // The header alone, followed by bytes the decoder must not take.
            let mut bytes = header(MAGIC, FORMAT_VERSION, len, 0);
            bytes.extend_from_slice(&[0; 32]);
            let mut decoder = FrameDecoder::new(MAX);
            let mut input = &bytes[..];
            assert_eq!(
                decoder.next_frame(&mut input),
                Err(FrameError::TooLarge {
                    len: u64::from(len),
                    max: MAX
                })
            );
            assert_eq!(input.len(), 32, "nothing past the header was taken");
            assert_eq!(decoder.buffered(), 0);
        }
        // Exactly the maximum is accepted.
        let payload = vec![1u8; MAX as usize];
        let mut decoder = FrameDecoder::new(MAX);
        assert_eq!(
            decode_chunks(&mut decoder, [&frame(&payload)[..]]),
            Ok(vec![payload])
        );
    }

    #[test]
    fn the_encoder_refuses_what_the_peer_would() {
        assert_eq!(
            encode(&[0; MAX as usize + 1], MAX),
            Err(FrameError::TooLarge {
                len: u64::from(MAX) + 1,
                max: MAX
            })
        );
    }

    #[test]
    fn random_chunkings_decode_the_same() {
        let mut rng = StdRng::seed_from_u64(0x0066_7261_6d65);
        for round in 0..300 {
            let frames: Vec<Vec<u8>> = (0..rng.random_range(0..8))
                .map(|_| {
                    let len = rng.random_range(0..300);
                    (0..len).map(|_| rng.random()).collect()
                })
                .collect();
            let stream: Vec<u8> = frames.iter().flat_map(|f| frame(f)).collect();

            // Random pieces, empty ones included (a read may return none).
            let mut chunks = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(rng.random_range(0..=rest.len().min(64)));
                chunks.push(chunk);
                rest = tail;
            }
            let mut decoder = FrameDecoder::new(MAX);
            assert_eq!(
                decode_chunks(&mut decoder, chunks.iter().copied()),
                Ok(frames.clone()),
                "round {round}"
            );

            if stream.is_empty() {
                continue;
            }
            // Any single flipped bit is caught: as a bad header, a bad
            // CRC, or a frame the stream does not finish.
            let bit = rng.random_range(0..stream.len() * 8);
            let mut damaged = stream.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let mut decoder = FrameDecoder::new(MAX);
            assert!(
                decode_chunks(&mut decoder, damaged.chunks(rng.random_range(1..=32))).is_err(),
                "round {round}, bit {bit}"
            );

            // A cut that is not between frames is truncated.
            let boundaries: Vec<usize> = frames
                .iter()
                .scan(0, |end, f| {
                    *end += HEADER_LEN + f.len();
                    Some(*end)
                })
                .collect();
            let cut = rng.random_range(1..stream.len());
            let mut decoder = FrameDecoder::new(MAX);
            let result = decode_chunks(&mut decoder, [&stream[..cut]]);
            if boundaries.contains(&cut) {
                let whole = boundaries
                    .iter()
                    .position(|b| *b == cut)
                    .map_or(0, |i| i + 1);
                assert_eq!(result, Ok(frames[..whole].to_vec()), "round {round}");
            } else {
                assert!(
                    matches!(result, Err(FrameError::Truncated { .. })),
                    "round {round}, cut {cut}: {result:?}"
                );
            }
        }
    }
}
