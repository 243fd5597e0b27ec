#!/usr/bin/env bash
# test/run-i18n.sh: the message catalogs (i18n/*.json) agree with each other and
# with the keys the UI uses (test/browser/i18n.test.js). Needs no database.
set -uo pipefail
cd "$(dirname "$0")/.."
node test/browser/i18n.test.js
