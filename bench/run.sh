#!/usr/bin/env bash
# bench/run.sh: `make bench`. Runs every benchmark; figures go to bench/out/.
set -euo pipefail
cd "$(dirname "$0")"
for b in */run.sh; do
	echo "==> bench/${b%/run.sh}"
	"$b"
done
