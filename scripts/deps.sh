#!/usr/bin/env bash
# Install the Debian packages zkv builds and tests with; does nothing when all are present.
set -euo pipefail

packages=(
  cmake pkg-config make gcc
  libzmq3-dev libczmq-dev
  libprotobuf-c-dev protobuf-c-compiler
  libcmocka-dev libjansson-dev
  iproute2 iptables procps
  curl # tests/cluster/prometheus.sh asks the compose Prometheus's HTTP API
  dpkg-dev file  # scripts/package.sh: CPack runs dpkg-shlibdeps, and file to find binaries
  prometheus # integration_metrics scrapes a cluster with it (and promtool checks the text)
  tcpdump # integration_security: no value crosses the loopback in the clear
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -qq
$sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
