#!/usr/bin/env bash
# How far `faultline shrink` gets on every bug variant: the first failure under `swarm` (seeds
# from 0, --jobs 1, so the lowest failing seed), shrunk with the default budget; its size before
# and after, the simulations and the wall time. A variant swarm does not catch within CAP seeds
# is taken from the first `expect: fail` entry naming it in ci/faultline.yaml (its schedule,
# clients and ops), and the table says so. Writes a markdown table to OUT (default
# docs/shrink-table.md); nothing in it is typed by hand.
#
#   ci/shrink-table.sh                    # every variant of every model (`faultline list`)
#   ci/shrink-table.sh raft twopc         # only these models
#   CAP=300 BIN=target/release/faultline OUT=/tmp/t.md ci/shrink-table.sh
set -euo pipefail

BIN=${BIN:-target/release/faultline}
CAP=${CAP:-500}
OUT=${OUT:-docs/shrink-table.md}
SUITE=${SUITE:-ci/faultline.yaml}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

command -v jq >/dev/null || { echo "shrink-table: needs jq" >&2; exit 2; }
[ -x "$BIN" ] || { echo "shrink-table: $BIN not built (cargo build --release)" >&2; exit 2; }

# The value of FIELD in a one-line flow mapping of the suite (`- {model: m, bug: b, ...}`).
field() { sed -n "s/.*[{ ,]$1: \([^,}]*\).*/\1/p" <<<"$2" | head -1; }

# The first failing seed's reproducer of MODEL BUG under SCHEDULE (extra fuzz args after), or
# nothing.
first_failure() {
    local model=$1 bug=$2 schedule=$3 out="$WORK/f"
    rm -rf "$out"
    "$BIN" fuzz "$model" --bug "$bug" --schedule "$schedule" --seeds "$CAP" --jobs 1 \
        --stop-on-first --out "$out" "${@:4}" >/dev/null 2>&1 || true
    local seed
    seed=$(jq -r '.first_failure_seed // empty' "$out/campaign.json" 2>/dev/null || true)
    if [ -n "$seed" ]; then echo "$out/seed-$seed/repro.yaml"; fi
}

if [ $# -gt 0 ]; then MODELS=("$@"); else
    mapfile -t MODELS < <("$BIN" list --json | jq -r '.models[].name')
fi

size() { jq -r "\"\(.$1.steps) / \(.$1.ops) / \(.$1.clients) / \(.$1.nodes)\"" "$2"; }

{
    echo "<!-- Written by ci/shrink-table.sh ($(${BIN} --version)); re-run it, do not edit. -->"
    echo
    echo "The first failure of each bug variant under \`swarm\` (lowest failing seed of $CAP),"
    echo "shrunk by \`faultline shrink\` with its defaults (60 s, 3 noise tries). Sizes are"
    echo "steps / ops / clients / nodes."
    echo
    echo "| model | bug | schedule | seed | checker | before | after | simulations | seconds | minimal |"
    echo "|---|---|---|---:|---|---|---|---:|---:|---|"
    for model in "${MODELS[@]}"; do
        mapfile -t BUGS < <("$BIN" list --json | jq -r --arg m "$model" '.models[] | select(.name == $m) | .bugs[]')
        for bug in "${BUGS[@]}"; do
            schedule=swarm
            extra=()
            repro=$(first_failure "$model" "$bug" swarm)
            if [ -z "$repro" ]; then
                entry=$(grep -E "model: $model, bug: $bug,.*expect: fail" "$SUITE" | head -1 || true)
                if [ -n "$entry" ]; then
                    schedule=$(field schedule "$entry")
                    schedule=${schedule:-swarm}
                    for f in clients ops; do
                        v=$(field "$f" "$entry")
                        if [ -n "$v" ]; then extra+=("--$f" "$v"); fi
                    done
                    if [ -n "$(field buggify "$entry")" ]; then extra+=(--buggify); fi
                    repro=$(first_failure "$model" "$bug" "$schedule" "${extra[@]}")
                fi
            fi
            if [ -z "$repro" ]; then
                echo "| $model | $bug | swarm | — | — | no failure in $CAP seeds | | | | |"
                echo "shrink-table: $model --bug $bug: no failure" >&2
                continue
            fi
            seed=$(sed -n 's/^seed: //p' "$repro")
            j="$WORK/shrink.json"
            "$BIN" shrink "$repro" -o "$WORK/min.yaml" --json >"$j" 2>/dev/null || true
            if ! jq -e .after "$j" >/dev/null 2>&1; then
                echo "| $model | $bug | $schedule${extra[*]:+ ${extra[*]}} | $seed | — | shrink failed | | | | |"
                continue
            fi
            line="| $model | $bug | $schedule${extra[*]:+ ${extra[*]}} | $seed | $(jq -r .checker "$j") | $(size before "$j") | $(size after "$j") | $(jq -r .candidates "$j") | $(jq -r '.elapsed_ms / 1000 * 10 | round / 10' "$j") | $(jq -r 'if .minimal then "yes" else "no (" + .stopped_by + ")" end' "$j") |"
            echo "$line"
            echo "shrink-table: $line" >&2
        done
    done
} >"$WORK/table.md"
mv "$WORK/table.md" "$OUT"
echo "shrink-table: wrote $OUT" >&2
