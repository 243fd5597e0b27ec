#!/usr/bin/env bash
# test/run-soak.sh: the soak and fault test (test/soak/) in its short version
# for make test: ROLLOUT_SOAK_SECONDS, default 90 (`make soak` runs it for 600).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test/out
export SOAK_SECONDS=${ROLLOUT_SOAK_SECONDS:-90} SOAK_REPORT=test/out/soak.json
exec test/soak/soak.sh
