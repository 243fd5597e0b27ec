#!/usr/bin/env bash
# test/run-compat.sh: range parsing and matching against node-semver (SPEC §6:
# "results agree with node-semver"). Installs node-semver from npm if needed.
set -uo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/semver ]; then
	npm install --no-audit --no-fund --loglevel=error >/dev/null || { echo "npm install failed"; echo "0 passed, 1 failed"; exit 1; }
fi
cc -O2 -Wall -Wextra -Werror -I../extension -o compat/semver_cli compat/semver_cli.c ../extension/semver_core.c ||
	{ echo "0 passed, 1 failed"; exit 1; }
node compat/compat.js compat/semver_cli
