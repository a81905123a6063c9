#!/usr/bin/env bash
# Keep asv results across CI runs in a plain git branch, and publish them as HTML.
#
#   benchmarks/asv_history.sh [RUN_ARGS...]     run the suite on HEAD in this environment,
#                                               add the results to the branch, publish
#
# Why a branch: the repository is plain git with no hosted service; a branch of result
# JSON files (asv's own format, one file per commit and machine) is history anyone can
# fetch, merge and browse (`asv publish` turns it into static pages). The branch
# ($ASV_RESULTS_BRANCH, default asv-results) holds only `results/`; it is checked out in a
# worktree under .cache, so the working tree of the code is never touched. Push it where
# the code goes (`git push origin asv-results`) to share the history.
# Machine names: pass `--machine NAME` (default: asv's, from `asv machine --yes`);
# never compare times across machines, only along one machine's line.
set -euo pipefail
cd "$(dirname "$0")/.."
ASV=${ASV:-.venv/bin/asv}
branch=${ASV_RESULTS_BRANCH:-asv-results}
store=.cache/asv-results-branch
mkdir -p .cache
git worktree prune
if [ ! -d "$store" ]; then
    if git rev-parse --verify -q "refs/heads/$branch" > /dev/null; then
        git worktree add -q "$store" "$branch"
    else
        git worktree add -q --detach "$store" HEAD
        git -C "$store" checkout -q --orphan "$branch"
        git -C "$store" rm -rq --cached . > /dev/null 2>&1 || true
        find "$store" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
    fi
fi
mkdir -p "$store/results" .asv/results
cp -r "$store/results/." .asv/results/          # earlier history first
"$ASV" machine --yes > /dev/null
"$ASV" run --python=same --set-commit-hash "$(git rev-parse HEAD)" "$@"
cp -r .asv/results/. "$store/results/"
git -C "$store" add results
if ! git -C "$store" diff --cached --quiet; then
    git -C "$store" commit -q -m "asv results for $(git rev-parse --short HEAD) on $(hostname)"
fi
"$ASV" publish > /dev/null
echo "asv history: $(git -C "$store" rev-list --count HEAD) commit(s) on branch $branch;" \
     "pages in .asv/html (browse: $ASV preview)"
