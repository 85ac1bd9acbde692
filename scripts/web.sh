#!/usr/bin/env bash
# The web app in player/: installs its packages (again only when the lockfile
# changed), then `build` bundles it into player/dist, `check` type-checks,
# lints and runs its unit tests in Node.
# Usage: scripts/web.sh build|check
set -euo pipefail
cd "$(dirname "$0")/../player"
stamp=node_modules/.lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "web: installing the web app's packages"
  npm ci --silent --no-audit --no-fund
  echo "$want" > "$stamp"
fi
case "${1:-build}" in
  build) node build.mjs ;;
  check) npx --no-install tsc --noEmit -p . && npx --no-install eslint . && npm test --silent ;;
  *) echo "usage: $0 build|check" >&2; exit 2 ;;
esac
