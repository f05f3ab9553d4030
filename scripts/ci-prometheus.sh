#!/usr/bin/env bash
# CI: make sure promtool and prometheus (deploy/prometheus tests: rule unit tests in npm test, a real
# Prometheus scraping real nodes in the cluster tier) and kubectl (deploy/kubernetes is built with
# `kubectl kustomize` and validated offline) are installed. Debian's packages: prometheus 2.42,
# kubernetes-client 1.20 (its kustomize v2 builds deploy/kubernetes; later kubectl builds it too).
set -euo pipefail
missing=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ci-prometheus.sh: ${missing[*]} missing and installing needs root (apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
promtool --version | head -1
kubectl version --client 2>/dev/null | head -1 || true
