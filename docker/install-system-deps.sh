#!/usr/bin/env bash
# Installs the Debian packages the local services and tests need, only when missing:
# Java 17+ and Maven (Kafka from Maven Central), redis-server, kcat (Kafka CLI client),
# Chromium for the chat page's browser tests (driven by Playwright, never downloaded), and
# Prometheus (promtool, and a real server for the metrics tests), nginx (run for real in
# front of two gateways) and shellcheck.
set -euo pipefail

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v redis-server >/dev/null || need+=(redis-server)
command -v kcat >/dev/null || need+=(kcat)
command -v chromium >/dev/null || need+=(chromium)
command -v promtool >/dev/null || need+=(prometheus)
command -v nginx >/dev/null || need+=(nginx)
command -v shellcheck >/dev/null || need+=(shellcheck)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi

echo "installing: ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null; then
    sudo=(sudo)
else
    echo "missing packages and no root: install ${need[*]} yourself" >&2
    exit 1
fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
