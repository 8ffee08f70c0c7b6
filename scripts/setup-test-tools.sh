#!/usr/bin/env bash
# Installs the tools the tests and benchmarks drive bitraft with: redis-cli and
# redis-benchmark (Debian package redis-tools) and redis-server (the reference), and
# openssl, which makes the certificates of the TLS tests. Does nothing when they are
# already installed.
set -euo pipefail
missing=()
for tool in redis-cli redis-benchmark redis-server openssl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing redis-tools, redis-server and openssl (missing: ${missing[*]})" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "error: ${missing[*]} missing and not root: install the Debian packages redis-tools, redis-server and openssl" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends redis-tools redis-server openssl >/dev/null
# The package may start a system-wide server; the tests start their own on free ports.
for tool in redis-cli redis-benchmark redis-server openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool still missing after installing" >&2; exit 1; }
done
