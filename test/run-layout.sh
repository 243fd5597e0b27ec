#!/usr/bin/env bash
# test/run-layout.sh: the shim's layout (test/layout/layout.test.js): one
# file per job, no import cycle. Needs nothing but node.
set -uo pipefail
cd "$(dirname "$0")/.."
node test/layout/layout.test.js
