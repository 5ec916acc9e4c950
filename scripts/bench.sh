#!/bin/sh
# Benchmarks of jit, run by `make bench` (after `make build`); the method and
# the recorded figures are in docs/performance.md.
#
#   1. Go benchmarks: one policy decision with 10 and 10,000 rules, parsing a
#      10,000-rule policy, one journal append.
#   2. Start-up: `jit version` against an empty Go program (scripts/bench/empty),
#      in wall time (hyperfine) and in instructions (valgrind's cachegrind; the
#      machine may be shared and loaded, instruction counts do not care).
#   3. End to end, inside `jit dev` (a loopback fake STS): `jit elevate
#      sandbox-admin --for 15m -- true` against scripts/bench/minimal-assumerole,
#      a Go program that makes the same single AssumeRole call with the same
#      SDK, environment and base credentials; then where jit's time goes, step
#      by step (scripts/bench/elevate-phases); and the same comparison with a
#      round-trip time added in front of the fake (scripts/bench/latency-proxy),
#      since AWS is tens of milliseconds away, not a loopback call.
#   4. The proof that `jit version`, `jit policy validate` and `jit audit
#      verify` initialise no cloud SDK (scripts/bench/nocloud).
#
# It reports; it does not fail when a target is missed. It exits non-zero
# only when something could not be built or run. hyperfine and valgrind are
# installed with apt-get when missing and allowed (root, BENCH_INSTALL unset
# or 1); otherwise their measurements are skipped, and the table says so.
#
# Settings (environment): JIT (default bin/jit), BENCH_OUT (directory for raw
# results; default a new temporary directory), BENCH_RUNS_STARTUP (300),
# BENCH_RUNS_E2E (60), BENCH_RTT (round trips to simulate: "20ms 50ms"),
# BENCH_INSTALL (1), GO (go).
set -eu
cd "$(dirname "$0")/.."

GO=${GO:-go}
JIT=${JIT:-bin/jit}
RUNS_STARTUP=${BENCH_RUNS_STARTUP:-300}
RUNS_E2E=${BENCH_RUNS_E2E:-60}
RTTS=${BENCH_RTT-20ms 50ms}
OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/jit-bench.XXXXXX")}
mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
case $JIT in /*) ;; *) JIT=$(pwd)/$JIT ;; esac
[ -x "$JIT" ] || { echo "bench: $JIT is missing: run make build (or make bench)" >&2; exit 1; }

say() { printf '%s\n' "$*" >&2; }
notes=""
note() { notes="$notes
- $*"; say "bench: $*"; }

# --- tools ----------------------------------------------------------------
apt_updated=""
need() { # need COMMAND PACKAGE: 0 when COMMAND is (or could be made) available
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "${BENCH_INSTALL:-1}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "bench: installing $2"
    if [ -z "$apt_updated" ]; then apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 || true
  fi
  command -v "$1" >/dev/null 2>&1 && return 0
  note "$1 is not installed (apt-get install $2): its measurements are skipped"
  return 1
}
have_hyperfine=0; need hyperfine hyperfine && have_hyperfine=1
have_valgrind=0; need valgrind valgrind && have_valgrind=1

# icount CMD...: instructions executed in user space by CMD (all threads,
# not its children), median of 3 runs under cachegrind (callgrind trips over
# the signals Go programs get, such as SIGCHLD). Asynchronous preemption is
# off to take its timer-driven signals out of the count.
icount() {
  for _ in 1 2 3; do
    GODEBUG=asyncpreemptoff=1 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
      sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' | tr -d ,
  done | sort -n | sed -n 2p
}

# csv_field FILE N F: field F (4: median seconds) of the Nth command of a
# hyperfine CSV.
csv_field() { awk -F, -v n="$2" -v f="$3" 'NR == n + 1 { print $f }' "$1"; }
ms() { awk -v s="$1" 'BEGIN { printf "%.2f", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "?" || r == "") print "not measured"; else if (r + 0 <= t + 0) print "met"; else print "missed" }'; }

# --- builds -------------------------------------------------------------------
say "bench: building helpers into $OUT/bin"
for h in empty minimal-assumerole elevate-phases latency-proxy; do
  "$GO" build -trimpath -ldflags "-s -w" -o "$OUT/bin/$h" "./scripts/bench/$h"
done

# --- 1. Go benchmarks ---------------------------------------------------------
say "bench: Go benchmarks"
"$GO" test -run '^$' -bench '^(BenchmarkEvaluate10Rules|BenchmarkEvaluate10000Rules)$' -benchmem -count 5 ./internal/policy >"$OUT/go-policy.txt"
"$GO" test -run '^$' -bench '^BenchmarkParse10000Rules$' -benchmem -benchtime 5x -count 3 ./internal/policy >>"$OUT/go-policy.txt"
"$GO" test -run '^$' -bench '^(BenchmarkAppend|BenchmarkAppendNoSync)$' -benchmem -benchtime 200x -count 5 ./internal/audit >"$OUT/go-audit.txt"
# gobench FILE NAME: median ns/op of benchmark NAME over its -count runs.
gobench() {
  awk -v n="$2" '$1 ~ "^" n "(-[0-9]+)?$" { print $3 }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
eval10=$(gobench "$OUT/go-policy.txt" BenchmarkEvaluate10Rules)
eval10k=$(gobench "$OUT/go-policy.txt" BenchmarkEvaluate10000Rules)
parse10k=$(gobench "$OUT/go-policy.txt" BenchmarkParse10000Rules)
append=$(gobench "$OUT/go-audit.txt" BenchmarkAppend)
appendns=$(gobench "$OUT/go-audit.txt" BenchmarkAppendNoSync)

# --- 2. start-up --------------------------------------------------------------
st_empty=""; st_jit=""; st_ratio="?"; ic_empty=""; ic_jit=""; ic_ratio="?"
if [ $have_hyperfine = 1 ]; then
  say "bench: start-up, $RUNS_STARTUP runs each"
  hyperfine -N --warmup 30 --runs "$RUNS_STARTUP" --export-csv "$OUT/startup.csv" \
    "$OUT/bin/empty" "$JIT version" >"$OUT/startup.txt" 2>&1
  st_empty=$(csv_field "$OUT/startup.csv" 1 4) # median
  st_jit=$(csv_field "$OUT/startup.csv" 2 4)
  st_ratio=$(ratio "$st_jit" "$st_empty")
fi
if [ $have_valgrind = 1 ]; then
  say "bench: start-up instruction counts"
  ic_empty=$(icount "$OUT/bin/empty")
  ic_jit=$(icount "$JIT" version)
  ic_ratio=$(ratio "$ic_jit" "$ic_empty")
fi

# --- 3. end to end ------------------------------------------------------------
# A CA bundle in the environment makes the SDK parse it in every process
# (about 3 ms for Debian's); the fake is plain HTTP on loopback, and users rarely
# set one, so both sides run without it.
unset AWS_CA_BUNDLE
e2e_min=""; e2e_jit=""; e2e_ratio="?"; ic_min=""; ic_elev=""; ic_e2e_ratio="?"
export OUT RUNS_E2E RTTS have_hyperfine have_valgrind
say "bench: end to end inside jit dev"
# shellcheck disable=SC2016 # expanded by the inner shell
"$JIT" dev -- sh -c '
  set -eu
  elevate="jit elevate sandbox-admin --for 15m --reason bench -- true"
  $elevate                                   # the policy and journal exist
  "$OUT/bin/minimal-assumerole" -v >/dev/null # the yardstick works
  if [ "$have_hyperfine" = 1 ]; then
    hyperfine -N --warmup 5 --runs "$RUNS_E2E" --export-csv "$OUT/e2e.csv" \
      "$OUT/bin/minimal-assumerole" "$elevate" >"$OUT/e2e.txt" 2>&1
  fi
  if [ "$have_valgrind" = 1 ]; then
    for w in min elev; do
      for _ in 1 2 3; do
        if [ $w = min ]; then set -- "$OUT/bin/minimal-assumerole"; else set -- $elevate; fi
        GODEBUG=asyncpreemptoff=1 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
          sed -n "s/.*I *refs: *\([0-9,]*\).*/\1/p" | tr -d ,
      done | sort -n | sed -n 2p >"$OUT/icount-$w.txt"
    done
  fi
  "$OUT/bin/elevate-phases" -n 30 >"$OUT/phases.md"
  if [ "$have_hyperfine" = 1 ]; then
    for rtt in $RTTS; do
      rm -f "$OUT/proxy.addr"
      "$OUT/bin/latency-proxy" -to "${AWS_ENDPOINT_URL_STS#http://}" -rtt "$rtt" -for 10m >"$OUT/proxy.addr" &
      proxy=$!
      i=0
      while [ ! -s "$OUT/proxy.addr" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
      AWS_ENDPOINT_URL_STS=http://$(head -n 1 "$OUT/proxy.addr") \
        hyperfine -N --warmup 2 --runs 20 --export-csv "$OUT/e2e-rtt-$rtt.csv" \
        "$OUT/bin/minimal-assumerole" "$elevate" >"$OUT/e2e-rtt-$rtt.txt" 2>&1
      kill $proxy
    done
  fi
' >"$OUT/dev.txt" 2>&1 || { cat "$OUT/dev.txt" >&2; exit 1; }
if [ -s "$OUT/e2e.csv" ] 2>/dev/null; then
  e2e_min=$(csv_field "$OUT/e2e.csv" 1 4)
  e2e_jit=$(csv_field "$OUT/e2e.csv" 2 4)
  e2e_ratio=$(ratio "$e2e_jit" "$e2e_min")
fi
if [ -s "$OUT/icount-min.txt" ] 2>/dev/null; then
  ic_min=$(cat "$OUT/icount-min.txt")
  ic_elev=$(cat "$OUT/icount-elev.txt")
  ic_e2e_ratio=$(ratio "$ic_elev" "$ic_min")
fi

rtt_rows=""
for rtt in $RTTS; do
  f="$OUT/e2e-rtt-$rtt.csv"
  [ -s "$f" ] || continue
  a=$(csv_field "$f" 1 4)
  b=$(csv_field "$f" 2 4)
  r=$(ratio "$b" "$a")
  rtt_rows="$rtt_rows| same, STS $rtt away: minimal / jit, median wall | $(ms "$a") / $(ms "$b") ms (${r}×) | ≤ 1.3× minimal | $(verdict "$r" 1.3) |
"
done

# --- 4. no cloud SDK ----------------------------------------------------------
say "bench: no cloud SDK in version, policy validate, audit verify"
if "$GO" test -count=1 -run '^TestCommandsInitialiseNoCloudSDK$' -v ./scripts/bench/nocloud >"$OUT/nocloud.txt" 2>&1; then
  nocloud=met
else
  nocloud=missed
  note "the no-cloud check failed: see $OUT/nocloud.txt"
fi

# --- report -------------------------------------------------------------------
us() { awk -v ns="$1" 'BEGIN { if (ns == "") print "?"; else printf "%.1f µs", ns / 1000 }'; }
msns() { awk -v ns="$1" 'BEGIN { if (ns == "") print "?"; else printf "%.1f ms", ns / 1e6 }'; }
t10k=$(awk -v ns="$eval10k" 'BEGIN { if (ns == "") print "not measured"; else if (ns < 1e6) print "met"; else print "missed" }')
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
cat <<EOF

# jit benchmarks — $(date -u +%Y-%m-%dT%H:%MZ)

machine: ${cpu:-unknown CPU}, $(nproc 2>/dev/null || echo ?) cores, $(uname -sr); $("$GO" version | cut -d' ' -f3-)
jit: $("$JIT" version 2>/dev/null)
load average at the end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?)
raw results: $OUT

| measure | result | target | |
|---|---:|---|---|
| policy decision, 10 rules | $(us "$eval10") | | |
| policy decision, 10,000 rules | $(us "$eval10k") | < 1 ms | $t10k |
| policy parse and validate, 10,000 rules (every process does it) | $(msns "$parse10k") | | |
| journal append, one event, 2 × fdatasync | $(us "$append") | | |
| journal append without syncs | $(us "$appendns") | | |
| empty Go program, median wall | $( [ -n "$st_empty" ] && ms "$st_empty" || echo ?) ms | | |
| \`jit version\`, median wall | $( [ -n "$st_jit" ] && ms "$st_jit" || echo ?) ms (${st_ratio}×) | ≤ 3× empty | $(verdict "$st_ratio" 3) |
| \`jit version\`, instructions | ${ic_jit:-?} (${ic_ratio}× ${ic_empty:-?}) | | |
| minimal AssumeRole program, median wall | $( [ -n "$e2e_min" ] && ms "$e2e_min" || echo ?) ms | | |
| \`jit elevate … -- true\`, median wall | $( [ -n "$e2e_jit" ] && ms "$e2e_jit" || echo ?) ms (${e2e_ratio}×) | ≤ 1.3× minimal | $(verdict "$e2e_ratio" 1.3) |
| \`jit elevate … -- true\`, instructions (jit's own) | ${ic_elev:-?} (${ic_e2e_ratio}× ${ic_min:-?}) | | |
$rtt_rows| version, policy validate, audit verify load no cloud SDK | see $OUT/nocloud.txt | yes | $nocloud |

Where \`jit elevate\` spends its time after start-up (one process, no tracing):

$(cat "$OUT/phases.md" 2>/dev/null || echo "(not measured)")
EOF
[ -z "$notes" ] || printf '\nNotes:%s\n' "$notes"
