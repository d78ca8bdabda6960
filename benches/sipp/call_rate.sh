#!/usr/bin/env bash
# Call-setup rate: SIPp caller -> Baton -> SIPp callee on loopback, media
# anchored (SDP rewritten, relay ports opened) but no RTP, short calls.
# For each rate it places a bounded number of calls and reports successful
# and failed calls, retransmissions, and Baton's CPU time per call.
# Usage: benches/sipp/call_rate.sh [rates...]   (default: 250 500 1000 1500 2000 2500)
# Needs sipp (Debian: sip-tester). Every run is bounded in count and time.
set -euo pipefail
cd "$(dirname "$0")/../.."
rates=("${@:-250 500 1000 1500 2000 2500}")
read -r -a rates <<< "${rates[*]}"
sip_port=35060; uas_port=35070; uac_port=35080; metrics_port=39090; media_ports=36000-45999
. benches/sipp/node.sh
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$baton_pid/stat"; }
printf "%8s %8s %8s %8s %16s %12s\n" rate calls ok failed retransmissions "cpu_us/call"
for rate in "${rates[@]}"; do
  calls=$(( rate * 4 )); [ "$calls" -lt 1000 ] && calls=1000
  (cd "$work" && timeout 30 sipp 127.0.0.1:$sip_port -sf "$sipp_dir/register.xml" -inf "$sipp_dir/callee.csv" \
     -au bob -ap builder -auth_uri example.test -p $uas_port -m 1 -nostdin >/dev/null 2>&1)
  (cd "$work" && timeout 120 sipp 127.0.0.1:$sip_port -sf "$sipp_dir/uas.xml" -p $uas_port -m "$calls" -nostdin \
     -trace_screen -screen_file "$work/uas_$rate.screen" -trace_err -error_file "$work/uas_$rate.errors" >/dev/null 2>&1) &
  uas=$!
  sleep 0.3
  before=$(cpu)
  (cd "$work" && timeout 120 sipp 127.0.0.1:$sip_port -sf "$sipp_dir/uac.xml" -inf "$sipp_dir/users.csv" \
     -au alice -ap wonderland -auth_uri bob@example.test -s bob -p $uac_port -m "$calls" -r "$rate" -l $(( rate * 2 )) -d 0 -nostdin \
     -trace_screen -screen_file "$work/uac_$rate.screen" -trace_err -error_file "$work/uac_$rate.errors" >/dev/null 2>&1) || true
  after=$(cpu)
  wait "$uas" || true
  ok=$(grep -m1 "Successful call" "$work/uac_$rate.screen" | awk '{print $(NF)}')
  failed=$(grep -m1 "Failed call" "$work/uac_$rate.screen" | awk '{print $(NF)}')
  # Message lines: "INVITE ----------> n r" (caller) or "<---------- 180 n r"
  # (callee); a line is a sent one when its arrow points away from the
  # scenario's side. Retransmissions are counted on sent lines, both sides.
  retrans=$(cat "$work/uac_$rate.screen" "$work/uas_$rate.screen" 2>/dev/null | awk '
    /Statistics Screen/ {skip = 1} /Scenario Screen/ {skip = 0} skip {next}
    {
      for (i = 1; i <= NF; i++) if ($i ~ /^-+>$/ || $i ~ /^<-+$/) break
      if (i > NF) next
      if (i == 1) { is_sent = ($1 ~ /^</); j = 3 } else { is_sent = ($i ~ />$/); j = i + 1 }
      while ($j ~ /^E-RTD/) j++
      if (is_sent) { sent += $j; re += $(j + 1) }
    }
    END { if (sent > 0) printf "%d (%.2f%%)", re, 100 * re / sent; else print "?" }')
  cpu_us=$(awk -v b="$before" -v a="$after" -v t="$ticks" -v n="${ok:-0}" 'BEGIN { if (n > 0) printf "%.1f", (a - b) / t * 1e6 / n; else print "n/a" }')
  printf "%8s %8s %8s %8s %16s %12s\n" "$rate" "$calls" "${ok:-?}" "${failed:-?}" "${retrans:-?}" "$cpu_us"
  sleep 1
done
