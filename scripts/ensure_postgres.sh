#!/usr/bin/env bash
# Makes sure PostgreSQL's server programs (initdb, pg_ctl, postgres) are installed, from
# Debian's packages when missing. No server is started here: the tests start a throwaway
# cluster of their own in a temp dir (tests/postgres_server.py), as the `postgres` user
# when run as root, and stop it when they end.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL is missing: sudo apt-get install -y postgresql (the Postgres tests need its server programs)." >&2
  exit 1
fi
echo "Installing postgresql from Debian's packages..."
apt-get update -qq
# policy-rc.d exit 101: the package's own cluster is not started (the tests start theirs).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
