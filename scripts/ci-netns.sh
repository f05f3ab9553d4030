#!/usr/bin/env bash
# CI: make sure `ip` (iproute2) is there for the partition fault test, which puts a node in its own
# network namespace (test/faults/cluster-partition.faults.test.ts; root only).
set -euo pipefail
if command -v ip >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ci-netns.sh: ip is missing and installing it needs root (apt-get install iproute2)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q iproute2
