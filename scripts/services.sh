#!/usr/bin/env bash
# Makes sure the services the tests talk to run on loopback: PostgreSQL
# (127.0.0.1:5432, database `test`, user postgres/postgres) and Redis
# (127.0.0.1:6379). Starts Debian's packages when they are not running.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { as_root runuser -u postgres -- "$@"; }

pg_ok() { PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d test -tAc 'select 1' >/dev/null 2>&1; }

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  [ -n "$version" ] || { echo "services: PostgreSQL is not installed (scripts/install-deps.sh test)" >&2; exit 1; }
  echo "services: starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 50); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
fi
if ! pg_ok; then
  # A fresh Debian cluster: password auth on TCP, no `test` database yet.
  as_postgres psql -q -c "ALTER USER postgres PASSWORD 'postgres'"
  as_postgres psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
    || as_postgres createdb test
  pg_ok || { echo "services: cannot log in to PostgreSQL as postgres on 127.0.0.1" >&2; exit 1; }
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/classcast-redis.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
echo "services: PostgreSQL and Redis are up"
