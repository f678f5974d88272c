#!/usr/bin/env bash
# `make bench`: every benchmark in one go; results under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
echo "== xDS convergence (control plane)"
npx vitest run --config bench/vitest.config.ts bench/xds-convergence.bench.ts --silent=false 2>&1 | sed -n '/^xDS convergence/,/^(/p'
