//! The relay's Prometheus metrics, through the `metrics` facade (a no-op
//! until the node installs a recorder).
//!
//! The packet path never calls the facade per packet: each worker sums in
//! plain integers while it handles one poller wakeup and adds the sums to
//! counter handles it resolved once, at start. Under load a wakeup covers
//! many packets, so the facade's cost per packet falls as load rises.

use crate::DropReason;
use metrics::Counter;

const PACKETS: &str = "baton_rtp_packets_total";
const BYTES: &str = "baton_rtp_bytes_total";
const DROPPED: &str = "baton_rtp_dropped_total";
pub(crate) const PORTS_IN_USE: &str = "baton_relay_ports_in_use";

/// Registers the descriptions of this crate's metrics. Call once at
/// startup, after installing the recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        PACKETS,
        "RTP and RTCP datagrams, by direction (in: arrived at the relay, out: sent by it)"
    );
    metrics::describe_counter!(
        BYTES,
        metrics::Unit::Bytes,
        "UDP payload bytes of RTP and RTCP datagrams, by direction"
    );
    metrics::describe_counter!(
        DROPPED,
        "Datagrams not forwarded, by reason (unexpected_source, malformed, no_destination, too_large, send_failed, dtmf_consumed, monitor)"
    );
    metrics::describe_gauge!(PORTS_IN_USE, "Media port pairs allocated to legs");
}

/// One worker's sums since its last flush, and the handles they go to.
#[derive(Debug)]
pub(crate) struct MetricsBatch {
    in_packets: u64,
    in_bytes: u64,
    out_packets: u64,
    out_bytes: u64,
    dropped: [u64; DropReason::ALL.len()],
    handles: Handles,
}

#[derive(Debug)]
struct Handles {
    in_packets: Counter,
    in_bytes: Counter,
    out_packets: Counter,
    out_bytes: Counter,
    dropped: [Counter; DropReason::ALL.len()],
}

impl MetricsBatch {
    /// Resolves the counter handles from the recorder installed now.
    pub(crate) fn new() -> Self {
        MetricsBatch {
            in_packets: 0,
            in_bytes: 0,
            out_packets: 0,
            out_bytes: 0,
            dropped: [0; DropReason::ALL.len()],
            handles: Handles {
                in_packets: metrics::counter!(PACKETS, "direction" => "in"),
                in_bytes: metrics::counter!(BYTES, "direction" => "in"),
                out_packets: metrics::counter!(PACKETS, "direction" => "out"),
                out_bytes: metrics::counter!(BYTES, "direction" => "out"),
                dropped: DropReason::ALL
                    .map(|r| metrics::counter!(DROPPED, "reason" => r.as_str())),
            },
        }
    }

    pub(crate) fn received(&mut self, bytes: usize) {
        self.in_packets += 1;
        self.in_bytes += bytes as u64;
    }

    pub(crate) fn sent(&mut self, bytes: usize) {
        self.out_packets += 1;
        self.out_bytes += bytes as u64;
    }

    pub(crate) fn dropped(&mut self, reason: DropReason) {
        self.dropped[reason.index()] += 1;
    }

    /// Adds the sums to the counters and starts again from zero.
    pub(crate) fn flush(&mut self) {
        if self.in_packets == 0 && self.dropped.iter().all(|d| *d == 0) {
            return;
        }
        let h = &self.handles;
        h.in_packets.increment(std::mem::take(&mut self.in_packets));
        h.in_bytes.increment(std::mem::take(&mut self.in_bytes));
        h.out_packets
            .increment(std::mem::take(&mut self.out_packets));
        h.out_bytes.increment(std::mem::take(&mut self.out_bytes));
        for (sum, counter) in self.dropped.iter_mut().zip(&h.dropped) {
            if *sum > 0 {
                counter.increment(std::mem::take(sum));
            }
        }
    }
}
