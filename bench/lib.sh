# shellcheck shell=bash disable=SC2034,SC2154  # sets variables for, and reads me and root from, the sourcing script
# bench/lib.sh: what the bench scripts share, sourced (never run) by bench/weft-*.sh,
# bench/hop-instructions.sh and bench/profile-hop.sh, so each of these is written once: cleanup of
# the processes a script started, CPU accounting, bounded waits, the control plane, free ports,
# FAILED rows and JSON strings. The sourcing script sets first:
#   me    its name in messages ("weft-two-hop: ...")
#   root  the Weft checkout whose bin/weft.js it runs (weft_root, when set, overrides it: a
#         function may run another build, as hop-instructions.sh does for BASELINE_REF)
# Sourcing only defines functions and the variables below; nothing starts until a script calls
# make_work.

hz=$(getconf CLK_TCK)   # clock ticks per second, the unit of /proc/PID/stat's utime and stime
declare -gA F=()        # F[key]: why the row FAILED (first reason seen); see fail
FAILED_ROWS=''          # the FAILED keys, in order, each after a space

# results_file NAME: sets out to RESULTS_DIR/NAME.txt (RESULTS_DIR: bench/results unless set) and
# removes an earlier run's NAME.txt and NAME.json, so they are never read as this run's figures.
results_file() {
  RESULTS_DIR=${RESULTS_DIR:-$root/bench/results}
  out="$RESULTS_DIR/$1.txt"
  mkdir -p "$RESULTS_DIR"; rm -f "$out" "$RESULTS_DIR/$1.json"
}

# make_work [LINES GLOB...]: sets work (a new temporary folder) and pids (the processes cleanup
# stops; add every process you start) and runs cleanup at exit. When the script exits non-zero,
# cleanup first prints the last LINES lines of each file matching $work/GLOB: what the processes
# said (a crashed sidecar's stack trace is there).
# shellcheck disable=SC2120  # both arguments are optional
make_work() {
  work="$(mktemp -d)"; pids=()
  show_lines=${1:-0}; show_globs=("${@:2}")
  trap cleanup EXIT
}
cleanup() {
  local rc=$? g f p
  if [ "$rc" != 0 ] && [ "$show_lines" -gt 0 ]; then
    for g in "${show_globs[@]}"; do
      # shellcheck disable=SC2231  # GLOB is a pattern, expanded here
      for f in "$work"/$g; do [ -f "$f" ] && { echo "--- $f" >&2; tail -"$show_lines" "$f" >&2; }; done
    done
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Wait for those that are our children (a detached control plane is not) before deleting their files.
  [ "${#pids[@]}" = 0 ] || wait "${pids[@]}" 2>/dev/null || true
  rm -rf "$work"
}

# die MESSAGE: prints "$me: MESSAGE" and exits 1.
die() { echo "$me: $1" >&2; exit 1; }
# need_bins BIN...: exits 1 naming the first BIN that is not installed.
need_bins() { local b; for b in "$@"; do command -v "$b" >/dev/null || die "$b missing (run bench/proxy/setup.sh)"; done; }

# until_ok [--every STEP] SECONDS CMD...: runs CMD every STEP seconds (0.1) until it succeeds;
# returns 1 after SECONDS. Say what failed at the call: `until_ok 5 CMD || die "..."`, or record a
# FAILED row where one failing target must not stop the others.
until_ok() {
  local step=0.1 n
  [ "$1" != --every ] || { step=$2; shift 2; }
  n=$(awk -v s="$1" -v e="$step" 'BEGIN{print int(s / e + 0.5)}'); shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep "$step"; done
  return 1
}
# answers_200 URL [CURL_ARGS...]: whether URL answers 200 now; sets http_last to the status it
# got ("000": no answer).
answers_200() { local url=$1; shift; http_last="$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" || true)"; [ "$http_last" = 200 ]; }
# wait_http SECONDS URL [CURL_ARGS...]: until URL answers 200, at most SECONDS; http_last is the last answer.
wait_http() { local s=$1; shift; http_last=''; until_ok "$s" answers_200 "$@"; }

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# start_control_plane DIR [--cpus LIST] [--otlp ADDR]: a `weft control-plane` with its data in
# DIR/data and its log in DIR/cp.out, pinned to LIST (taskset) when given, its OTLP receiver at
# ADDR (default off). It runs detached (setsid: not a child, so a sidecar's CPU and RSS are its own)
# and cleanup stops it. Waits at most 20 s for its ready line; sets cp_pid, xds, admin and
# cp_data (what `weft` talks to), or says so and returns 1.
start_control_plane() {
  local d=$1 pin=() otlp=off; shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --cpus) pin=(taskset -c "$2") ;; --otlp) otlp=$2 ;;
      *) echo "start_control_plane: unknown option $1" >&2; return 2 ;;
    esac; shift 2
  done
  mkdir -p "$d"
  ( setsid "${pin[@]}" node "${weft_root:-$root}/bin/weft.js" control-plane --data-dir "$d/data" --xds-address 127.0.0.1:0 \
      --admin-address 127.0.0.1:0 --otlp-address "$otlp" --log-level warn > "$d/cp.out" 2>&1 & echo $! > "$d/cp.pid" )
  cp_pid="$(cat "$d/cp.pid")"; pids+=("$cp_pid"); cp_data="$d/data"
  until_ok 20 grep -qs ready "$d/cp.out" || { echo "$me: control plane did not start" >&2; return 1; }
  xds="$(grep -o 'xds=[0-9.:]*' "$d/cp.out" | cut -d= -f2)"
  admin="$(grep -o 'admin=[0-9.:]*' "$d/cp.out" | cut -d= -f2)"
}
# start_nginx CONF_IN DIR PORT UPSTREAM_PORT [NGINX_ARGS...]: renders bench/proxy/peers/CONF_IN
# (its @PORT@, @UPSTREAM_PORT@ and @RUNDIR@, which becomes DIR) into DIR and starts nginx on it,
# pinned to CPU 1, its output in DIR.out. A peer config says `daemon off;` itself or is given
# NGINX_ARGS -g 'daemon off;'. Sets nginx_pid (the master); cleanup stops it.
start_nginx() {
  local conf_in=$1 dir=$2 port=$3 up=$4 conf; shift 4
  conf="${conf_in%.in}"
  mkdir -p "$dir/nginx-tmp"
  sed -e "s#@PORT@#$port#g" -e "s#@UPSTREAM_PORT@#$up#g" -e "s#@RUNDIR@#$dir#g" "$root/bench/proxy/peers/$conf_in" > "$dir/$conf"
  taskset -c 1 nginx "$@" -p "$dir" -e "$dir/${conf%.conf}-error.log" -c "$dir/$conf" > "$dir.out" 2>&1 & nginx_pid=$!
  pids+=("$nginx_pid")
}
# weft ARGS...: the weft CLI against the last control plane started.
weft() { WEFT_SERVER="http://$admin" WEFT_DATA_DIR="$cp_data" node "${weft_root:-$root}/bin/weft.js" "$@"; }
# apply_bench_service: applies Service bench (one http port), the upstream of a single hop.
apply_bench_service() {
  printf 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: bench }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n' \
    | weft apply -f - > /dev/null
}

# cpu_ticks PID...: user+sys clock ticks used so far by these processes (one that is gone counts 0).
cpu_ticks() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
# cpu_us_per_req BEFORE AFTER REQUESTS: microseconds of CPU per request between two cpu_ticks readings.
cpu_us_per_req() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$hz" 'BEGIN{printf "%.1f", (b-a)/hz*1e6/n}'; }

# fail KEY REASON: records row KEY as FAILED (the first reason stays; "(round R)" is added while a
# variable round is set) and says so on stderr. The row is then printed as "FAILED: reason", never
# with numbers, and exit_if_failed ends the script with 1.
fail() {
  [ -n "${F[$1]:-}" ] || { F[$1]="$2${round:+ (round $round)}"; FAILED_ROWS+=" $1"; }
  echo "$me: $1: FAILED: $2" >&2
}
# alive KEY PID...: 0 when every PID still runs; otherwise fails KEY naming the dead one and returns 1.
alive() {
  local k=$1 p; shift
  for p in "$@"; do kill -0 "$p" 2>/dev/null || { fail "$k" "process $p died during the run (see its log)"; return 1; }; done
}
# exit_if_failed: the script's last word: exits 1 listing the FAILED rows, if any.
exit_if_failed() { [ -z "$FAILED_ROWS" ] || { echo "$me: FAILED rows:$FAILED_ROWS" >&2; exit 1; }; }

# json_str STRING: STRING as a JSON string literal, quotes included.
json_str() { node -e 'console.log(JSON.stringify(process.argv[1]))' "$1"; }
# median: the median of the numbers on stdin, one a line ("-" for none).
median() { sort -g | awk '{a[NR]=$1} END{ if (NR==0) print "-"; else print a[int((NR+1)/2)] }'; }
