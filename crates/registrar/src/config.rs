use std::time::Duration;

/// The registrar's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shorter non-zero expirations get `423 Interval Too Brief`.
    pub min_expires: Duration,
    /// Longer expirations are shortened to this.
    pub max_expires: Duration,
    /// Used when neither the Contact nor the request says.
    pub default_expires: Duration,
    /// At most this many contacts per AOR: a Contact storm is refused.
    pub max_bindings_per_aor: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: Duration::from_secs(60),
            max_expires: Duration::from_secs(3600),
            default_expires: Duration::from_secs(3600),
            max_bindings_per_aor: 10,
        }
    }
}
