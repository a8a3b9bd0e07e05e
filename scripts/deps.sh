#!/usr/bin/env bash
# Installs the Debian packages Vigil builds and tests with. Idempotent and quiet
# when everything is present. Usage: scripts/deps.sh [build|test]
set -euo pipefail
want=(cmake make gcc clang pkg-config libuv1-dev libnghttp2-dev libprotobuf-c-dev
      protobuf-c-compiler libjansson-dev libzstd-dev zlib1g-dev libyaml-dev libssl-dev
      libcmocka-dev libhttp-parser-dev libcurl4-openssl-dev)
if [ "${1:-build}" = test ]; then
  want+=(libclang-rt-14-dev python3 bsdutils util-linux procps nghttp2-client rsyslog
         openssl curl iproute2 zstd)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm (the OpenTelemetry JS SDK drives the interop tests): a machine
# may already have them from elsewhere (nodesource's nodejs bundles npm and
# conflicts with Debian's npm package), so check the commands, not packages.
if [ "${1:-build}" = test ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
