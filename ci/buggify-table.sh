#!/usr/bin/env bash
# Seeds-to-first-failure of every bug variant of every built-in model under `swarm`, without and
# with `--buggify`: 5 campaigns each (start seeds 0, 10000, 20000, 30000, 40000), each stopping at
# its first failing seed or at CAP seeds; and the share of failing seeds over RATE seeds (from
# 50000), a steadier figure than five first failures. Writes a markdown table (median and the 5
# values, failing seeds) to OUT (default docs/buggify-table.md); nothing in it is typed by hand.
#
#   ci/buggify-table.sh                      # every variant of every model (`faultline list`)
#   ci/buggify-table.sh payments dynamo      # only these models
#   CAP=300 RATE=0 BIN=target/release/faultline OUT=/tmp/t.md ci/buggify-table.sh  # RATE=0: no rate
#
# A campaign's figure is the number of seeds it ran up to and including the first failing one
# (`first_failure_seed - start + 1`); `>CAP` when none of CAP seeds failed. Runs with --jobs 1:
# one seed at a time, so the first failure found is the lowest failing seed.
set -euo pipefail

BIN=${BIN:-target/release/faultline}
CAP=${CAP:-500}
RATE=${RATE:-300}
RATE_START=50000
OUT=${OUT:-docs/buggify-table.md}
STARTS=(0 10000 20000 30000 40000)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

command -v jq >/dev/null || { echo "buggify-table: needs jq" >&2; exit 2; }
[ -x "$BIN" ] || { echo "buggify-table: $BIN not built (cargo build --release)" >&2; exit 2; }

# Seeds to the first failure of one campaign: MODEL BUG START [--buggify].
campaign() {
    local model=$1 bug=$2 start=$3 out="$WORK/c"
    rm -rf "$out"
    # Exit 1 (a seed failed) is the expected outcome; 2 is bad input.
    local rc=0
    "$BIN" fuzz "$model" --bug "$bug" --schedule swarm --start-seed "$start" --seeds "$CAP" \
        --jobs 1 --stop-on-first --out "$out" "${@:4}" >/dev/null 2>&1 || rc=$?
    if [ "$rc" -eq 2 ]; then
        echo "buggify-table: fuzz $model --bug $bug failed with bad input" >&2
        exit 2
    fi
    local first
    first=$(jq -r '.first_failure_seed // empty' "$out/campaign.json")
    if [ -z "$first" ]; then echo ">$CAP"; else echo $((first - start + 1)); fi
}

# How many of RATE seeds from RATE_START fail: MODEL BUG [--buggify].
failing() {
    local model=$1 bug=$2 out="$WORK/r"
    rm -rf "$out"
    local rc=0
    "$BIN" fuzz "$model" --bug "$bug" --schedule swarm --start-seed "$RATE_START" --seeds "$RATE" \
        --jobs 1 --out "$out" "${@:3}" >/dev/null 2>&1 || rc=$?
    if [ "$rc" -eq 2 ]; then
        echo "buggify-table: fuzz $model --bug $bug failed with bad input" >&2
        exit 2
    fi
    jq -r '.seeds_failed' "$out/campaign.json"
}

# The median of five figures (a `>CAP` counts as above every number).
median() {
    printf '%s\n' "$@" | sed "s/^>\(.*\)/\1.5/" | sort -g | sed -n 3p | sed "s/^\(.*\)\.5$/>\1/"
}

if [ $# -gt 0 ]; then MODELS=("$@"); else
    mapfile -t MODELS < <("$BIN" list --json | jq -r '.models[].name')
fi

{
    echo "<!-- Written by ci/buggify-table.sh ($(${BIN} --version)); re-run it, do not edit. -->"
    echo
    echo "Seeds to the first failure under \`swarm\`, 5 campaigns (start seeds ${STARTS[*]}),"
    echo "each capped at $CAP seeds (\`>$CAP\`: none failed). Median, then the five values; then how"
    echo "many of the $RATE seeds from $RATE_START fail (without / with), a steadier figure."
    echo
    echo "| model | bug | without buggify | with \`--buggify\` | without: values | with: values | failing of $RATE |"
    echo "|---|---|---:|---:|---|---|---:|"
    for model in "${MODELS[@]}"; do
        mapfile -t BUGS < <("$BIN" list --json | jq -r --arg m "$model" '.models[] | select(.name == $m) | .bugs[]')
        for bug in "${BUGS[@]}"; do
            off=() on=()
            for s in "${STARTS[@]}"; do
                off+=("$(campaign "$model" "$bug" "$s")")
                on+=("$(campaign "$model" "$bug" "$s" --buggify)")
            done
            rate="-"
            if [ "$RATE" -gt 0 ]; then
                rate="$(failing "$model" "$bug") / $(failing "$model" "$bug" --buggify)"
            fi
            echo "| $model | $bug | $(median "${off[@]}") | $(median "${on[@]}") | ${off[*]} | ${on[*]} | $rate |"
            echo "buggify-table: $model --bug $bug: ${off[*]} / ${on[*]}; failing $rate" >&2
        done
    done
} >"$WORK/table.md"
# Written whole at the end: an interrupted run leaves the old table (and nothing in the repo).
cp "$WORK/table.md" "$OUT"
echo "buggify-table: wrote $OUT" >&2
