#!/usr/bin/env bash
# CI: make sure nats-server (with JetStream) is installed for the cluster tests (test/cluster/).
# Debian's package is version 2.9; the tests start their own server (scripts/test-nats.mjs).
set -euo pipefail
if command -v nats-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ci-nats.sh: nats-server is missing and installing it needs root (apt-get install nats-server)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q nats-server
nats-server --version
