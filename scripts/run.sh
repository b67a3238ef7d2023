#!/usr/bin/env bash
# make run: migrate, seed the demo when empty, then serve web + worker + beat until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export PYTHONUNBUFFERED=1
mkdir -p var
echo "==> Migrating the database (${DATABASE_URL:-SQLite at var/abm.sqlite3})"
$BIN/python manage.py migrate --no-input
echo "==> Collecting static files"
$BIN/python manage.py collectstatic --no-input --verbosity 0
echo "==> Loading demo data if the database is empty"
$BIN/python manage.py bootstrap_demo
echo "==> Serving on http://127.0.0.1:${PORT:-8000} with a Celery worker and beat (Ctrl-C stops all)"
export PORT="${PORT:-8000}"
exec $BIN/honcho -f Procfile.dev start
