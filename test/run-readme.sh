#!/usr/bin/env bash
# test/run-readme.sh: the README's SQL works when pasted. Every ```sql block
# of README.md runs, in order, in one psql session on a fresh database; a
# statement annotated "--> text" must print exactly that text (psql -At,
# columns joined by " | ", rows by "\n"). Uses PGHOST/PGPORT/PGUSER.
set -uo pipefail
cd "$(dirname "$0")/.."
exec perl test/readme.pl README.md
