#!/usr/bin/env bash
# make test: lint, migration check, then the whole pytest suite on PostgreSQL and Redis
# when they are reachable (required when CI=true), else on the embedded SQLite default.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
CI="${CI:-false}"

reachable() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

mkdir -p var
has() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
# install_debian WHAT PACKAGE...: Debian packages some tests need, installed when we are root.
install_debian() {
  local what=$1; shift
  echo "==> Installing Debian's $* for the $what tests"
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") \
      >"var/apt-$1.log" 2>&1 || echo "    could not install $* (see var/apt-$1.log); the $what tests will be skipped"
  else
    echo "    not root: install them with 'sudo apt-get install $*'"
  fi
}
if ! has chromium || ! has chromedriver; then
  install_debian browser chromium chromium-driver
  if [ "$CI" = "true" ] && ! has chromium; then
    echo "CI=true but chromium could not be installed: the browser tests must run in CI" >&2; exit 1
  fi
fi
# nginx in front of gunicorn (deploy/nginx.conf): tests/test_proxy.py runs it with slow clients.
if ! has nginx; then
  install_debian proxy nginx
  if [ "$CI" = "true" ] && ! has nginx; then
    echo "CI=true but nginx could not be installed: the proxy tests must run in CI" >&2; exit 1
  fi
fi

if [ -z "${DATABASE_URL:-}" ]; then
  if reachable 127.0.0.1 5432; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/abm"
  elif [ "$CI" = "true" ]; then
    echo "CI=true but PostgreSQL is not reachable at 127.0.0.1:5432" >&2; exit 1
  fi
fi
if [ -z "${CELERY_BROKER_URL:-}" ]; then
  if reachable 127.0.0.1 6379; then
    export CELERY_BROKER_URL="redis://127.0.0.1:6379/14"
  elif [ "$CI" = "true" ]; then
    echo "CI=true but Redis is not reachable at 127.0.0.1:6379" >&2; exit 1
  fi
fi
if [ "$CI" = "true" ]; then
  export ABM_REQUIRE_SERVICES=1
fi
echo "==> Database: ${DATABASE_URL:-SQLite (embedded)}; broker: ${CELERY_BROKER_URL:-embedded}"

echo "==> ruff"
$BIN/ruff check .
echo "==> app layering (import-linter)"
$BIN/lint-imports --no-cache
echo "==> migrations are up to date"
$BIN/python manage.py makemigrations --check --dry-run >/dev/null
echo "==> pytest"
start=$(date +%s)
$BIN/python -m pytest "$@"
echo "==> make test took $(( $(date +%s) - start ))s"
