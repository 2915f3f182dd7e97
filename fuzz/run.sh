#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, then prints a summary table.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]     (default 60)
#
# Env: TARGETS="usersig splice_flv" to run a subset; SANITIZER (default address; "none" if ASAN
# will not link); FUZZ_TOOLCHAIN (default nightly).
# Needs a nightly toolchain and cargo-fuzz (cargo install cargo-fuzz --locked).
#
# The committed seeds in fuzz/corpus/<target>/ are only read; what the fuzzer learns goes to
# fuzz/work/corpus/<target>/ (ignored by git, reused by the next run). Crashes, timeouts, OOMs and
# leaks go to fuzz/artifacts/<target>/; reproduce one with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
set -uo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
toolchain=${FUZZ_TOOLCHAIN:-nightly}
sanitizer=${SANITIZER:-address}
targets=${TARGETS:-usersig tus_headers query_body splice_flv}
work=fuzz/work
mkdir -p "$work/logs"

# Per-target libFuzzer options. splice_flv: inputs around the size of a small slice, 10 s per input
# at most (FFmpeg decodes keyframes and may re-encode), FFmpeg's allocations allowed more room.
opts() {
  case $1 in
    splice_flv) echo "-max_len=65536 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024" ;;
    usersig) echo "-max_len=12288 -timeout=5 -rss_limit_mb=1024 -malloc_limit_mb=64" ;;
    *) echo "-max_len=4096 -timeout=5 -rss_limit_mb=1024 -malloc_limit_mb=64" ;;
  esac
}

# What libFuzzer left in the artifacts directory (slow-unit-* files are not findings), newest first.
found() {
  ls -t "fuzz/artifacts/$1"/{crash,timeout,oom,leak}-* 2>/dev/null
}

cargo "+$toolchain" fuzz build -s "$sanitizer" || exit 1

declare -A execs cov ft crashes status
for t in $targets; do
  mkdir -p "$work/corpus/$t" "fuzz/artifacts/$t" "$work/tmp"
  before=$(found "$t" | wc -l)
  log="$work/logs/$t.log"
  echo "== $t: ${secs}s, log in $log"
  # TMPDIR: the splice target's scratch files, removed below.
  TMPDIR="$PWD/$work/tmp" cargo "+$toolchain" fuzz run -s "$sanitizer" "$t" "$work/corpus/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 $(opts "$t") \
    >"$log" 2>&1
  rc=$?
  rm -rf "${work:?}/tmp"
  # Final stats, or the last status line when it stopped early.
  execs[$t]=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  line=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: [0-9]+ ft: [0-9]+' | tail -1)
  cov[$t]=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$line")
  ft[$t]=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$line")
  crashes[$t]=$(($(found "$t" | wc -l) - before))
  status[$t]=$([ "$rc" = 0 ] && echo ok || echo "exit $rc")
done

echo
printf '%-12s %12s %8s %8s %8s  %s\n' target executions cov ft crashes status
for t in $targets; do
  printf '%-12s %12s %8s %8s %8s  %s\n' "$t" "${execs[$t]:-?}" "${cov[$t]:-?}" "${ft[$t]:-?}" "${crashes[$t]}" "${status[$t]}"
done
for t in $targets; do
  if [ "${crashes[$t]}" != 0 ]; then
    echo
    echo "$t found (newest first):"
    found "$t" | head -n "${crashes[$t]}" | sed 's|^|  |'
  fi
done
