#!/usr/bin/env bash
# System packages the test suite needs beyond the Python venv: Debian's chromium, for the
# end-to-end test's screenshot of the flow run page in the Prefect UI. Idempotent; called by
# .ci/run before `make test`. Fails loudly if it cannot install: in CI (CI set) .ci/run then
# stops and the e2e UI test fails; only with CI unset does that test skip, saying why.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "ci-deps: $(chromium --version 2>/dev/null | head -1) already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "ci-deps: need root or sudo to apt-get install chromium" >&2; exit 1; }
  SUDO="sudo -n"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "ci-deps: installed $(chromium --version 2>/dev/null | head -1)"
