#!/usr/bin/env bash
# Compare two commits' performance with asv and fail on a regression.
#
#   benchmarks/compare.sh BASE HEAD [FACTOR]        build both commits in asv-managed
#                                                   virtualenvs and run `asv continuous`
#   benchmarks/compare.sh --stored BASE HEAD [F]    only compare results already stored
#
# Exits 1 with "PERFORMANCE DECREASED" when a benchmark got worse by more than FACTOR
# (default 1.5). Shared CI runners are noisy: run this on demand or nightly on a quiet
# machine; the per-push CI only runs the asv smoke check.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--stored" ]]; then
    shift
    exec python -m benchmarks.asv_gate "${1:?usage: compare.sh --stored BASE HEAD [FACTOR]}" \
        "${2:?usage: compare.sh --stored BASE HEAD [FACTOR]}" --factor "${3:-1.5}"
fi
base=${1:?usage: benchmarks/compare.sh BASE HEAD [FACTOR]}
head=${2:?usage: benchmarks/compare.sh BASE HEAD [FACTOR]}
asv machine --yes >/dev/null
asv continuous --factor "${3:-1.5}" --split --show-stderr ${ASV_BENCH:+--bench "$ASV_BENCH"} "$base" "$head"
