//! Loss estimation from RTP sequence numbers, after RFC 3550 Appendix A.1
//! (`init_seq` / `update_seq`) and §6.4.1 (expected minus received).

/// Packets in order before a new source is believed (A.1 `MIN_SEQUENTIAL`).
const MIN_SEQUENTIAL: u16 = 2;
/// The largest forward jump taken as loss rather than a restart (A.1).
const MAX_DROPOUT: u16 = 3000;
/// The largest backward step taken as reordering rather than a restart (A.1).
const MAX_MISORDER: u16 = 100;
const RTP_SEQ_MOD: u32 = 1 << 16;

/// The sequence-number state of one source (A.1 `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceTracker {
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u16,
    received: u64,
}

impl SequenceTracker {
    /// Starts tracking at the first packet's sequence number `seq`. Like
    /// A.1, the source is on probation until `MIN_SEQUENTIAL` packets
    /// arrive in order; packets on probation are not counted.
    pub fn new(seq: u16) -> Self {
        let mut s = SequenceTracker {
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: 0,
            probation: 0,
            received: 0,
        };
        // A.1: `init_seq(s, seq); s->max_seq = seq - 1; s->probation = MIN_SEQUENTIAL;`
        // then the first packet goes through `update_seq` like any other.
        s.init(seq);
        s.max_seq = seq.wrapping_sub(1);
        s.probation = MIN_SEQUENTIAL;
        s.update(seq);
        s
    }

    /// A.1 `init_seq`.
    fn init(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
    }

    /// Accounts one packet with sequence number `seq` (A.1 `update_seq`).
    /// Returns false if the packet is not counted: a jump so large the
    /// source may have restarted (confirmed when the next packet follows
    /// it, which then resynchronises), or a packet during probation that
    /// does not follow its predecessor.
    pub fn update(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init(seq);
                    self.received += 1;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        } else if udelta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if seq < self.max_seq {
                self.cycles += RTP_SEQ_MOD;
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            // A very large jump.
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets: the source restarted without
                // telling us; resync.
                self.init(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        }
        // Otherwise a duplicate or reordered packet: counted, max unchanged.
        self.received += 1;
        true
    }

    /// The highest sequence number seen, extended with the wrap count
    /// (A.3 `extended_max`).
    pub fn extended_max(&self) -> u64 {
        u64::from(self.cycles) + u64::from(self.max_seq)
    }

    /// Packets expected since tracking began (A.3): extended max minus the
    /// base, plus one. Zero while on probation.
    pub fn expected(&self) -> u64 {
        if self.probation > 0 {
            return 0;
        }
        (self.extended_max() + 1).saturating_sub(u64::from(self.base_seq))
    }

    /// Packets counted as received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets lost: expected minus received, never negative (duplicates
    /// can make received exceed expected; A.3 clamps the same way).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seqs: impl IntoIterator<Item = u16>) -> SequenceTracker {
        let mut it = seqs.into_iter();
        let mut t = SequenceTracker::new(it.next().expect("one seq"));
        for s in it {
            t.update(s);
        }
        t
    }

    #[test]
    fn in_order_stream_has_no_loss() {
        let t = feed(100..200);
        assert_eq!(t.expected(), 99, "the first packet is probation");
        assert_eq!(t.received(), 99);
        assert_eq!(t.lost(), 0);
    }

    #[test]
    fn gaps_are_counted_as_loss() {
        let t = feed((1..=100).filter(|s| s % 10 != 0));
        assert_eq!(t.expected(), 98, "2..=99: the first packet is probation");
        assert_eq!(t.lost(), 9);
    }

    #[test]
    fn reordering_is_not_loss() {
        let t = feed([1, 2, 3, 5, 4, 6, 8, 7, 9, 10]);
        assert_eq!(t.lost(), 0);
        assert_eq!(t.extended_max(), 10);
    }

    #[test]
    fn wrap_extends_the_sequence_space() {
        let seqs: Vec<u16> = (0..200u32).map(|i| (65_500 + i) as u16).collect();
        let t = feed(seqs);
        assert_eq!(t.extended_max(), 65_500 + 199);
        assert_eq!(t.lost(), 0);
        assert_eq!(t.expected(), 199);
    }

    #[test]
    fn reordering_across_the_wrap_is_not_loss() {
        let t = feed([65_533, 65_534, 65_535, 1, 0, 2, 3]);
        assert_eq!(t.lost(), 0);
        assert_eq!(t.extended_max(), 65_536 + 3);
    }

    #[test]
    fn loss_across_the_wrap_is_counted() {
        let t = feed([65_530, 65_531, 65_532, 2, 3]);
        assert_eq!(t.lost(), 5, "65533..=65535, 0 and 1");
    }

    #[test]
    fn a_restart_resynchronises_after_two_packets() {
        let mut t = feed(1..50);
        assert!(!t.update(40_000), "a huge jump is not believed at once");
        assert!(t.update(40_001), "its successor confirms the restart");
        assert_eq!(t.expected(), 1);
        assert_eq!(t.lost(), 0);
    }

    #[test]
    fn duplicates_never_make_loss_negative() {
        let t = feed([1, 2, 3, 3, 3, 4]);
        assert_eq!(t.lost(), 0);
    }
}
