#!/usr/bin/env bash
# make bench: the benchmarks in bench/ against PostgreSQL on 127.0.0.1 (not part of make test).
# BENCH_RECOMPUTE_ACCOUNTS / BENCH_RECOMPUTE_TOUCHES size the recompute benchmark
# (default 100,000 accounts and 10,000,000 touches: the first run generates them, ~10 min).
# BENCH_ENGINE_SIZE (S, M or L) sizes the KPI engine benchmark (default S).
# BENCH_KPIS_DATABASE (e.g. abm_bench_engine_m, seeded by the engine benchmark) times the
# warm pages and the warm dashboard on that database too (#18: warm dashboard <= 50 ms at M).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
# The engine benchmark compares the five KPIs with DuckDB over Parquet when it can be had
# (an optional extra, never used by the app); without it that comparison is skipped.
$BIN/python -m pip install --quiet --disable-pip-version-check -e '.[bench]' \
  || echo "(duckdb could not be installed: the DuckDB comparison is skipped)"
echo "==> CSV import of touches (bench/bench_import.py)"
$BIN/python bench/bench_import.py
echo "==> Bulk touch ingest over HTTP (bench/bench_ingest.py)"
$BIN/python bench/bench_ingest.py
echo "==> KPI engine against a scan of the data (bench/bench_engine.py)"
$BIN/python bench/bench_engine.py --size "${BENCH_ENGINE_SIZE:-S}"
echo "==> A stage page's live series under a tier filter, one pass against side by side (bench/bench_filtered_series.py)"
$BIN/python bench/bench_filtered_series.py --database "abm_bench_engine_$(echo "${BENCH_ENGINE_SIZE:-S}" | tr 'SML' 'sml')"
echo "==> KPI API and page latency, cold and warm (bench/bench_kpis.py)"
$BIN/python bench/bench_kpis.py
if [ -n "${BENCH_KPIS_DATABASE:-}" ]; then
  echo "==> Warm pages and dashboard on $BENCH_KPIS_DATABASE (bench/bench_kpis.py --warm-only)"
  $BIN/python bench/bench_kpis.py --database "$BENCH_KPIS_DATABASE" --warm-only \
    --pages /,/stages/1/,/programs/
fi
echo "==> Warm KPI API against a hello-world DRF view, in process (bench/bench_warm_api.py)"
$BIN/python bench/bench_warm_api.py
if command -v wrk > /dev/null; then
  echo "==> The same over gunicorn, wrk with 32 connections (bench/bench_warm_api.py --http)"
  $BIN/python bench/bench_warm_api.py --http --reuse --seconds 5
else
  echo "==> (skipped: bench_warm_api.py --http needs wrk: apt-get install wrk)"
fi
echo "==> Nightly recompute against hand-written SQL (bench/bench_recompute.py)"
$BIN/python bench/bench_recompute.py \
  --accounts "${BENCH_RECOMPUTE_ACCOUNTS:-100000}" --touches "${BENCH_RECOMPUTE_TOUCHES:-10000000}"
echo "==> Attribution models against the window-touch read (bench/bench_attribution.py)"
$BIN/python bench/bench_attribution.py \
  --accounts "${BENCH_RECOMPUTE_ACCOUNTS:-100000}" --touches "${BENCH_RECOMPUTE_TOUCHES:-10000000}"
