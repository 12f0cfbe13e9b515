#!/usr/bin/env bash
# Median seeds-to-first-failure of each bug variant, per schedule (default: swarm vs uniform).
#
#   benches/seeds-to-failure.sh MODEL SEEDS [SCHEDULE...]
#
# One `fuzz` over seeds 0..SEEDS per (bug, schedule) records every failing seed F; a campaign
# starting at seed s would first fail at min{f in F, f >= s}, after (that - s + 1) seeds. The
# median of that over every start s in 0..SEEDS is reported ("-" when no seed failed; starts
# past the last failure count as SEEDS, so the median is conservative).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?model}; seeds=${2:?seeds}; shift 2
schedules=("$@"); [ ${#schedules[@]} -eq 0 ] && schedules=(swarm uniform)
cargo build --release -q
bin=target/release/faultline
bugs=$($bin list --json | python3 -c "import json,sys; m=[m for m in json.load(sys.stdin)['models'] if m['name']=='$model'][0]; print(' '.join(m['bugs']))")
printf '%-22s' "bug"; for s in "${schedules[@]}"; do printf '%16s' "$s"; done; echo
for bug in $bugs; do
  printf '%-22s' "$bug"
  for s in "${schedules[@]}"; do
    out=$(mktemp -d)
    { $bin fuzz "$model" --bug "$bug" --schedule "$s" --seeds "$seeds" --out "$out" --json 2>/dev/null || true; } |
      python3 -c "
import json, sys, statistics
d = json.load(sys.stdin); n = $seeds
fails = sorted(f['seed'] for f in d['failures'])
waits = []
for s in range(n):
    nxt = [f for f in fails if f >= s]
    waits.append(nxt[0] - s + 1 if nxt else n)
print('%16s' % ('%g (%d fail)' % (statistics.median(waits), len(fails)) if fails else '-'), end='')
"
    rm -rf "$out"
  done
  echo
done
