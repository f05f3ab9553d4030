#!/usr/bin/env bash
# CI: make sure PostgreSQL 15's server binaries (initdb, pg_ctl) are installed for the tests that
# start a throw-away server (scripts/test-postgres.mjs). The machine image has them; install
# Debian's postgresql-15 only when they are missing.
set -euo pipefail
if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ci-postgres.sh: postgresql-15 is missing and installing it needs root (apt-get install postgresql-15)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q postgresql-15
