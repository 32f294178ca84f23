#!/usr/bin/env bash
# Everything a fresh machine needs to run Resect's tests, then the tests: system packages (Debian's Chromium for
# the end-to-end tests), npm ci, lint, type-check, and every suite. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends chromium
  else
    echo "Debian's Chromium is needed for the end-to-end tests: sudo apt-get install chromium" >&2
    exit 1
  fi
fi

# onnxruntime-node's install script downloads CUDA providers from outside; CPU and WebGPU are bundled.
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
npm ci --no-audit --no-fund
npm run lint
npm run typecheck
npm test
