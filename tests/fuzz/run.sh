#!/usr/bin/env bash
# Fuzzes every reader of outside bytes: builds the libFuzzer harnesses of tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined; build-fuzz/), writes their seed corpora (fuzz_seeds, from the
# fixtures), and runs each harness for SECONDS (default 60) on its seeds, its kept regression inputs
# (tests/fuzz/regressions/<harness>/) and the corpus it grew in earlier runs (build-fuzz/corpus/<harness>/),
# with its dictionary (tests/fuzz/<harness>.dict; text.dict for the three that read text). A crash, a sanitizer report, a leak, an input running
# over 20 s or an allocation over 2 GB fails the run; the input is left in build-fuzz/artifacts/<harness>/:
# fix the reader, then keep the input in tests/fuzz/regressions/<harness>/ (ctest fuzz_<harness> reads it
# in every build). Prints executions and coverage per harness.
#   bash tests/fuzz/run.sh [SECONDS [HARNESS...]]     e.g. bash tests/fuzz/run.sh 600 model convert
# FUZZ_RUNS=N stops a harness after N executions if that comes first (the long run: FUZZ_RUNS=10000000
# bash tests/fuzz/run.sh 3600: ten million executions or an hour each).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
[ $# -gt 0 ] && shift
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(dates json conll spm tokenize recognize model convert)
out=build-fuzz
CC=clang cmake -S . -B "$out" -DSURLIGNE_FUZZ=ON -DSURLIGNE_WERROR=OFF >/dev/null
cmake --build "$out" -j"$(nproc)" >"$out/build.log" 2>&1 || { tail -n 40 "$out/build.log" >&2; exit 1; }
rm -rf "$out/seeds"
"$out/fuzz_seeds" "$out/seeds"
summary=()
failed=0
for h in "${harnesses[@]}"; do
  [ -x "$out/fuzz_$h" ] || { echo "run.sh: no harness fuzz_$h" >&2; exit 2; }
  mkdir -p "$out/corpus/$h" "$out/artifacts/$h"
  dirs=("$out/corpus/$h")
  [ -d "$out/seeds/$h" ] && dirs+=("$out/seeds/$h")
  [ -d "tests/fuzz/regressions/$h" ] && dirs+=("tests/fuzz/regressions/$h")
  args=(-max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$out/artifacts/$h/")
  dict="tests/fuzz/$h.dict"
  case "$h" in dates | tokenize | recognize) dict=tests/fuzz/text.dict ;; esac
  [ -f "$dict" ] && args+=(-dict="$dict")
  [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
  log="$out/fuzz_$h.log"
  echo "== fuzz_$h: $seconds s" >&2
  if "$out/fuzz_$h" "${args[@]}" "${dirs[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and $out/artifacts/$h/)"
    failed=1
    tail -n 40 "$log" >&2
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[^ ]*' "$log" | tail -n 1 || true)
  summary+=("$(printf '%-10s %10s executions  %-34s %s' "$h" "${execs:-?}" "${cov:-?}" "$result")")
done
printf '%s\n' "${summary[@]}"
exit $failed
