use crate::Timers;

/// Settings of a [`crate::TransactionLayer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// T1, T2 and T4.
    pub timers: Timers,
    /// Send `100 Trying` for an INVITE when the TU has not answered within
    /// 200 ms (RFC 3261 §17.2.1: the server transaction MUST do so if the
    /// TU will not). On by default; turn off when the TU always answers
    /// at once.
    pub send_100_trying: bool,
    /// Seed for [`crate::TransactionLayer::new_branch`]; `None` seeds from
    /// the process's random hashing keys. Set it for reproducible tests.
    pub branch_seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timers: Timers::default(),
            send_100_trying: true,
            branch_seed: None,
        }
    }
}
