# Shared by the SIPp harnesses (sourced, not run): builds and starts a
# release node on loopback with alice and bob, MD5 first (SIPp 3.6 reads only
# the first challenge), and cleans up on exit. SIPp's digest uri is the
# remote address unless -auth_uri names the Request-URI, which Baton
# requires (RFC 7616 §3.4.6): the harnesses pass it. The caller sets sip_port,
# metrics_port and media_ports before sourcing; afterwards $work holds the
# node's files and $baton_pid its process.
command -v sipp >/dev/null || { echo "$0: sipp is required (apt-get install sip-tester)" >&2; exit 1; }
cargo build --release --locked -p baton -q
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; pkill -KILL -f "sipp 127.0.0.1:$sip_port" || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cat > "$work/baton.toml" <<TOML
[sip]
domain = "example.test"
listen = ["udp:127.0.0.1:$sip_port"]
digest = ["MD5", "SHA-256"]
[media]
ports = "$media_ports"
[metrics]
listen = "127.0.0.1:$metrics_port"
[cluster]
data_dir = "$work/data"
[limits]
# One caller (alice) places every call of the harness, thousands at once:
# no per-user call cap. The per-source rate default (5,000 INVITEs and
# REGISTERs a second) already covers 1,500 calls/s with their 407 round trip.
calls_per_user = 0
[[users]]
name = "alice"
password = "wonderland"
[[users]]
name = "bob"
password = "builder"
TOML
RUST_LOG=warn ${BATON_WRAP:-} ${BATON_BIN:-target/release/baton} serve --config "$work/baton.toml" > "$work/baton.out" 2> "$work/baton.err" &
baton_pid=$!
for _ in $(seq 50); do grep -q ready "$work/baton.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/baton.out" || { echo "$0: the node did not start:" >&2; cat "$work/baton.err" >&2; exit 1; }
sipp_dir=$PWD/tests/sipp
