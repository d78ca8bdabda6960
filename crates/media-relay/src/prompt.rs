//! The prompt tone mixed into a leg's outgoing G.711 audio: a 1 kHz beep,
//! 250 ms on and 250 ms off, at -12 dBFS, for as long as the prompt lasts.
//!
//! 1 kHz at 8 kHz sampling is eight samples a period, so the tone is an
//! eight-entry table indexed by a sample counter: no floating point per
//! sample, and the phase runs on across packets. Beeps start and stop on
//! a zero crossing (the on time is a whole number of periods), so there
//! are no clicks.

use crate::g711::{mix, Law};
use std::time::Instant;

/// One period of a 1 kHz sine at 8 kHz, peak 8231 (-12 dBFS).
const SINE: [i16; 8] = [0, 5820, 8231, 5820, 0, -5820, -8231, -5820];
/// Samples of tone per beep (250 ms).
const ON: u64 = 2000;
/// Samples from one beep's start to the next (500 ms).
const PERIOD: u64 = 4000;

/// A prompt being played.
#[derive(Debug, Clone)]
pub(crate) struct Prompt {
    until: Instant,
    /// Samples of the prompt played so far: the tone's phase.
    sample: u64,
}

impl Prompt {
    /// A prompt that ends at `until`.
    pub(crate) fn new(until: Instant) -> Self {
        Prompt { until, sample: 0 }
    }

    /// Whether the prompt is over at `now`.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        now >= self.until
    }

    /// Adds the next stretch of tone to a G.711 `payload` in `law`.
    pub(crate) fn mix(&mut self, law: Law, payload: &mut [u8]) {
        for code in payload {
            let n = self.sample;
            self.sample += 1;
            if n % PERIOD < ON {
                let tone = SINE[(n % 8) as usize];
                *code = law.encode(mix(law.decode(*code), tone));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(law: Law, p: &[u8]) -> Vec<i16> {
        p.iter().map(|c| law.decode(*c)).collect()
    }

    #[test]
    fn the_tone_runs_on_across_packets_and_pauses() {
        let mut p = Prompt::new(Instant::now());
        let silence = Law::Mu.encode(0);
        let mut heard = Vec::new();
        for _ in 0..(PERIOD / 160 + 1) {
            let mut payload = [silence; 160];
            p.mix(Law::Mu, &mut payload);
            heard.extend(decoded(Law::Mu, &payload));
        }
        // The first beep is the sine, within µ-law quantisation, with no
        // phase jump at the packet boundaries.
        for (n, s) in heard.iter().enumerate().take(ON as usize) {
            let want = i32::from(SINE[n % 8]);
            assert!((i32::from(*s) - want).abs() <= want.abs() / 16 + 8, "{n}");
        }
        assert!(heard[ON as usize..PERIOD as usize].iter().all(|s| *s == 0));
        assert_eq!(
            heard[PERIOD as usize + 2],
            Law::Mu.decode(Law::Mu.encode(8231))
        );
    }

    #[test]
    fn loud_audio_saturates_instead_of_wrapping() {
        let mut p = Prompt::new(Instant::now());
        let loud = Law::A.encode(i16::MAX);
        let mut payload = [loud; 8];
        p.mix(Law::A, &mut payload);
        assert!(decoded(Law::A, &payload).iter().all(|s| *s > 20_000));
    }

    #[test]
    fn expires_at_its_end() {
        let t0 = Instant::now();
        let p = Prompt::new(t0 + std::time::Duration::from_millis(10));
        assert!(!p.expired(t0));
        assert!(p.expired(t0 + std::time::Duration::from_millis(10)));
    }
}
