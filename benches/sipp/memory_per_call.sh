#!/usr/bin/env bash
# Memory per established call: Baton's RSS with N calls up (SIPp caller ->
# Baton -> SIPp callee, media anchored: two relay port pairs per call, no
# RTP) minus its RSS before them, divided by N. Bounded: the calls are placed
# at a fixed rate and the run ends by itself.
# Two readings: right after setup, and 36 s later once the INVITE
# transactions' timers have expired (the steady cost of an established
# call; QUICK=1 skips it).
# Usage: benches/sipp/memory_per_call.sh [calls, default 4500: four sockets a call, and
# this sandbox's hard limit of 20,000 open files caps concurrent calls near 4,900]
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-4500}"
rate=500
ulimit -n 262144 2>/dev/null || ulimit -n "$(ulimit -Hn)"
sip_port=35160; uas_port=35170; uac_port=35180; metrics_port=39190; media_ports=10000-59999
. benches/sipp/node.sh
pid=$baton_pid
rss() {
  if [ ! -e "/proc/$pid/status" ]; then echo "memory_per_call.sh: baton exited:" >&2; tail -5 "$work/baton.err" >&2; exit 1; fi
  awk '/^VmRSS/ {print $2}' "/proc/$pid/status"
}
active() { curl -s "127.0.0.1:$metrics_port/metrics" | awk '/^baton_calls_active/ {print $2}'; }
S=$sipp_dir
(cd "$work" && timeout 30 sipp 127.0.0.1:$sip_port -sf "$S/register.xml" -inf "$S/callee.csv" -au bob -ap builder -auth_uri example.test -p $uas_port -m 1 -nostdin >/dev/null 2>&1)
# Calls stay up long enough for a second reading after the INVITE
# transactions' 32 s timers (RFC 6026 Timers L and M) have let them go.
hold_ms=$(( (n / rate + 70) * 1000 ))
(cd "$work" && timeout $(( hold_ms / 1000 + 60 )) sipp 127.0.0.1:$sip_port -sf "$S/uas.xml" -p $uas_port -m "$n" -l $(( n + 100 )) -nostdin >/dev/null 2>&1) &
sleep 0.3
# Warm up with a few short calls, then take the baseline.
(cd "$work" && timeout 30 sipp 127.0.0.1:$sip_port -sf "$S/uac.xml" -inf "$S/users.csv" -au alice -ap wonderland -auth_uri bob@example.test -s bob \
   -p $((uac_port + 1)) -m 20 -r 20 -d 0 -nostdin >/dev/null 2>&1) || true
sleep 5
base=$(rss)
(cd "$work" && timeout $(( hold_ms / 1000 + 60 )) sipp 127.0.0.1:$sip_port -sf "$S/uac.xml" -inf "$S/users.csv" -au alice -ap wonderland -auth_uri bob@example.test -s bob \
   -p $uac_port -m "$n" -r "$rate" -l $(( n + 100 )) -d "$hold_ms" -nostdin >/dev/null 2>&1) &
deadline=$(( $(date +%s) + n / rate + 60 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  a=$(active); [ "${a%.*}" -ge "$n" ] 2>/dev/null && break
  sleep 1
done
sleep 3
up=$(active); top=$(rss)
echo "calls established: ${up:-?} of $n"
echo "rss before: ${base} KiB, with the calls: ${top} KiB"
awk -v b="$base" -v t="$top" -v n="${up%.*}" 'BEGIN { if (n > 0) printf "memory per call right after setup: %.1f KiB (transactions still in their 32 s wait)\n", (t - b) / n }'
if [ -z "${QUICK:-}" ]; then
  sleep 36
  up2=$(active); steady=$(rss)
  echo "after the transactions' timers: ${up2:-?} calls, rss ${steady} KiB"
  awk -v b="$base" -v t="$steady" -v n="${up2%.*}" 'BEGIN { if (n > 0) printf "memory per established call: %.1f KiB (target: at most 40 KiB)\n", (t - b) / n }'
fi
[ -n "${BATON_WRAP:-}" ] && { kill -TERM "$pid"; sleep 6; }
true
