//! The codec's input path: datagram framing + normaliser + parser, the
//! stream framer fed in arbitrary chunks, and a serialise/re-parse round
//! trip of whatever parsed. Nothing may panic; a message that parsed must
//! parse again after serialisation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_message::framing::{StreamFramer, StreamItem};
use sip_message::{Limits, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::parse(data) {
        let bytes = message.to_bytes();
        let again = Message::parse(&bytes);
        assert!(
            again.is_ok(),
            "re-parse failed: {again:?}\n{}",
            String::from_utf8_lossy(&bytes)
        );
        let _ = message.top_via();
        let _ = message.from();
        let _ = message.to();
        let _ = message.contacts();
        let _ = message.cseq();
    }
    // The same bytes as a stream, cut where the first byte says.
    let cut = data.first().map_or(1, |b| usize::from(*b).max(1));
    let mut framer = StreamFramer::new(Limits::DEFAULT);
    for chunk in data.chunks(cut) {
        if framer.push(chunk).is_err() {
            return;
        }
        loop {
            match framer.poll_item() {
                Ok(Some(StreamItem::Message(m))) => {
                    let _ = Message::parse(&m);
                }
                Ok(Some(StreamItem::Ping)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
