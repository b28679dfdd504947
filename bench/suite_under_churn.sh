#!/usr/bin/env bash
# The README's test command, run N times in a row on a fresh clone while
# bench/port_churn.py churns loopback ports: the suite has no port races
# if every run passes (docs/suite.md, "No port races").
#
#   bench/suite_under_churn.sh [REPO] [RUNS]     # defaults: this checkout, 5
#
# REPO is cloned (its HEAD) into a temporary directory with a new venv,
# `pip install -e ".[test]"`, then each run is `python -m pytest
# --durations=25` (the README's command, with the slowest tests listed).
# SUITE_WRAP, if set, prefixes each run: on a shared machine,
# SUITE_WRAP="flock -s /work/cpu.lock". Each run's log stays in the printed
# directory; the summary lists each run's wall time (waiting for SUITE_WRAP's
# lock included) and its result line (pytest's own time). Exits non-zero if
# any run failed.
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && git rev-parse --show-toplevel)
runs=${2:-5}
work=$(mktemp -d "${TMPDIR:-/tmp}/suite_under_churn.XXXXXX")
echo "work dir: $work; clone of $repo at $(git -C "$repo" rev-parse --short HEAD)"
git clone -q "$repo" "$work/trionet"
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
cd "$work/trionet"
pip install -q -e ".[test]"

# Bounded, in case this script is killed before its trap runs.
python bench/port_churn.py --seconds $((runs * 900)) >"$work/churn.log" 2>&1 &
churn=$!
trap 'kill "$churn" 2>/dev/null || true; wait "$churn" 2>/dev/null || true' EXIT

failed=0
for i in $(seq "$runs"); do
    start=$(date +%s.%N)
    # shellcheck disable=SC2086  # SUITE_WRAP is a command prefix, split on purpose
    if ${SUITE_WRAP:-} timeout 1200 python -m pytest --durations=25 >"$work/run$i.log" 2>&1; then
        status=passed
    else
        status=FAILED
        failed=$((failed + 1))
    fi
    took=$(echo "$(date +%s.%N) - $start" | bc)
    printf 'run %d: %s, %.0f s wall: %s\n' "$i" "$status" "$took" "$(tail -n 1 "$work/run$i.log")"
    grep -E '^(FAILED|ERROR) ' "$work/run$i.log" || true
done
kill "$churn" 2>/dev/null || true
wait "$churn" 2>/dev/null || true
trap - EXIT
echo "churner: $(cat "$work/churn.log")"
echo "$((runs - failed)) of $runs runs passed; logs in $work"
[ "$failed" -eq 0 ]
