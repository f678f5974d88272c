#!/usr/bin/env bash
# Builds Weft as of a git ref (BASELINE_REF, e.g. the commit before a change) in its own worktree
# under bench/.baseline/, sharing this checkout's node_modules, and prints that worktree's path.
# make bench then measures its sidecar beside the current one in the same run, so a change's cost
# on the hot path is a same-run ratio (scripts/bench.sh, the "weft-base" row).
#   bash bench/baseline.sh <ref>
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ref="${1:?usage: bench/baseline.sh <git ref>}"
sha="$(git -C "$root" rev-parse --verify --short "$ref^{commit}")" || { echo "baseline.sh: '$ref' is not a commit here" >&2; exit 2; }
dir="$root/bench/.baseline/$sha"
# A ref with scripts/bundle-sidecar.mjs runs its data plane from dist/sidecar-bundle/ (bin/weft.js).
if [ ! -f "$dir/dist/sidecar/main.js" ] || { [ -f "$dir/scripts/bundle-sidecar.mjs" ] && [ ! -f "$dir/dist/sidecar-bundle/main.js" ]; }; then
  rm -rf "$dir"
  git -C "$root" worktree prune
  git -C "$root" worktree add --detach --force "$dir" "$sha" >/dev/null 2>&1
  ln -sfn "$root/node_modules" "$dir/node_modules"
  (cd "$dir" && "$root/node_modules/.bin/tsc" -p tsconfig.json && { [ ! -f scripts/bundle-sidecar.mjs ] || node scripts/bundle-sidecar.mjs; }) >&2
fi
echo "$dir"
