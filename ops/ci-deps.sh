#!/usr/bin/env bash
# System packages the test suite needs beyond the Python venv, from Debian:
#   - chromium (+ a font), for the end-to-end test's screenshots of the Prefect UI;
#   - postgresql, for the stack on PostgreSQL (`make up DB=postgres`, tests/e2e/test_stack_postgres.py);
#     ops/stack.py runs its own cluster from /usr/lib/postgresql/<version>/bin, so the package's
#     default cluster service is neither needed nor started here.
# Idempotent and quiet: installs only what is missing. Called by .ci/run before `make test`.
# Fails loudly if it cannot install: in CI (CI set) .ci/run then stops; only with CI unset do the
# tests needing a package skip, saying why.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)

if [ ${#missing[@]} -eq 0 ]; then
  echo "ci-deps: chromium and postgresql already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "ci-deps: need root or sudo to apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO="sudo -n"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "ci-deps: installed ${missing[*]}"
