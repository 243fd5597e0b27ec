#!/usr/bin/env bash
# scripts/deps.sh [--bench]: install the Debian packages rollout needs, if missing,
# then the npm packages of web/ and test/ (npm ci) when their node_modules is
# missing or older than the lock file. Runs apt-get (through sudo when not root)
# only when something is missing.
set -euo pipefail

pkgs=(
	make gcc clang libclang-rt-14-dev
	postgresql-15 postgresql-client-15 postgresql-server-dev-15 libpq-dev
	libcivetweb-dev libjansson-dev libssl-dev
	libipc-run-perl curl
	nodejs npm
	chromium fonts-wqy-microhei
)
if [ "${1:-}" = "--bench" ]; then
	pkgs+=(postgresql-15-semver postgresql-contrib hyperfine wrk nginx bc)
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
# Node.js may come from outside Debian's packages (node and npm on PATH): fine.
if command -v node >/dev/null && command -v npm >/dev/null; then
	filtered=()
	for p in "${missing[@]+"${missing[@]}"}"; do
		case "$p" in nodejs|npm) ;; *) filtered+=("$p") ;; esac
	done
	missing=("${filtered[@]+"${filtered[@]}"}")
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "==> installing Debian packages: ${missing[*]}"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
	$sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian postgresql package starts a cluster on port 5432; we never use it.

# npm packages: the UI's build tools (web/) and the test suites' libraries
# (test/), exactly as their lock files say. Not for --bench, which needs neither.
if [ "${1:-}" != "--bench" ]; then
	cd "$(dirname "$0")/.."
	for dir in web test; do
		[ -f "$dir/package-lock.json" ] || continue
		if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
			echo "==> npm ci in $dir/"
			(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
			# npm ci may empty and refill node_modules rather than make it anew: mark it newer than the lock
			touch "$dir/node_modules"
		fi
	done
fi
exit 0
