#!/usr/bin/env bash
# Measures the gateway on this machine (issue 17 item 7); the figures go into the gateway
# README's "Measured" section by hand. Not a test: nothing here fails on a slow machine.
#
#   bash gateway/bench/measure.sh [large] [small] [inproc]     (default: all three)
#
# large   two gateways on loopback, PartnerA (gateway/config/partner-a.toml) and PartnerB
#         (partner-b.toml), each a release `as2-gateway serve` with a fresh data directory
#         and max_body_size raised to 2 GiB. A file of MEASURE_SIZE_MIB (1024) MiB from
#         /dev/urandom (so compression cannot cheat) is uploaded to A's transfers API and
#         sent to B signed (SHA-256, RSA-2048) and encrypted (AES-256-CBC), with a signed
#         synchronous MDN; then again through the sample's ZLIB connector (MEASURE_COMPRESSED=0
#         skips that). Reports the upload and transfer times, throughput, each process's
#         peak RSS (VmHWM) and CPU seconds, and checks that B's copy has the SHA-256 sent.
# small   PartnerB's gateway alone, loaded by `cargo run --example load -- post`: 1 KiB
#         messages signed and encrypted by the library, POSTed over MEASURE_CONCURRENCY (16)
#         connections, MEASURE_COUNT (2000) per run, MEASURE_RUNS (3) runs; every MDN is
#         verified (signature, MIC, processed) after the clock stops. Messages/s per run,
#         the median, B's peak RSS and CPU seconds per message.
# inproc  the same kind of messages (MEASURE_PARSE_MESSAGES, 200, written once) parsed
#         with a signed MDN built for each, in one thread: as2-proto (`load parse`) and
#         pyas2lib 1.4.4 (gateway/bench/pyas2lib_mdn_rate.py, venv from
#         tests/pyas2lib/setup.sh or AS2_PEER_PYTHON), MEASURE_SECONDS (10) s per run,
#         MEASURE_RUNS runs each, alternating, median reported.
#
# The load average is printed before each part. Results go to stdout and to
# MEASURE_OUT (default target/measure/results.md). Work files (about 3 GiB for the large
# part) live in a temporary directory under TMPDIR, removed at the end unless
# MEASURE_KEEP=1. Needs curl, jq, python3; CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$(pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(large small inproc)
size_mib="${MEASURE_SIZE_MIB:-1024}"
compressed="${MEASURE_COMPRESSED:-1}"
count="${MEASURE_COUNT:-2000}"
concurrency="${MEASURE_CONCURRENCY:-16}"
runs="${MEASURE_RUNS:-3}"
warmup=32
parse_messages="${MEASURE_PARSE_MESSAGES:-200}"
seconds="${MEASURE_SECONDS:-10}"
max_body=$((2 * 1024 * 1024 * 1024))
out_file="${MEASURE_OUT:-$repo/target/measure/results.md}"
pki="$repo/examples/pki"

for tool in curl jq python3; do
    command -v "$tool" >/dev/null || { echo "measure.sh: needs $tool" >&2; exit 2; }
done

echo "building as2-gateway and the load example (release)..." >&2
nice -n 10 cargo build --release --locked -p as2-gateway --bin as2-gateway --example load >&2
gateway="$target/release/as2-gateway"
load="$target/release/examples/load"

work="$(mktemp -d "${TMPDIR:-/tmp}/as2-measure.XXXXXX")"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ "${MEASURE_KEEP:-0}" = 1 ]; then
        echo "work files kept in $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

results=()
say() {
    results+=("$*")
    echo "$*"
}
now() { date +%s.%N; }
calc() { python3 -c "print($*)"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
# Peak resident set size of a live process, MiB.
peak_mib() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
# User + system CPU seconds of a live process.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# config SAMPLE NAME: the sample with absolute key paths, a fresh data directory, port 0,
# max_body_size raised; prints the new file's path. PEER_URL replaces the connector URL.
config() {
    local sample="$1" name="$2"
    local file="$work/$name.toml" data="$work/$name-data"
    rm -rf "$data"
    sed -e "s#{ file = \"\\.\\./\\.\\./#{ file = \"$repo/#g" \
        -e "s#^listen = .*#listen = \"127.0.0.1:0\"#" \
        -e "s#^data_dir = .*#data_dir = \"$data\"#" \
        -e "/^public_url = /d" \
        -e "/^max_body_size = /d" \
        -e "s#^\\[gateway\\]\$#[gateway]\\nmax_body_size = $max_body#" \
        -e "s#^url = .*#url = \"${PEER_URL:-}\"#" \
        "$sample" >"$file"
    echo "$file"
}

# start NAME CONFIG: runs `as2-gateway serve`, waits for its address; sets PID and ADDR.
start() {
    local name="$1" file="$2" i
    : >"$work/$name.out"
    "$gateway" serve --config "$file" >"$work/$name.out" 2>"$work/$name.log" &
    PID=$!
    pids+=("$PID")
    for ((i = 0; i < 600; i++)); do
        ADDR="$(sed -n 's#^listening on http://##p' "$work/$name.out")"
        [ -n "$ADDR" ] && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "measure.sh: $name did not start:" >&2
    cat "$work/$name.log" >&2
    exit 1
}

stop() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# send_large CONNECTOR LABEL: one transfer of the payload from A to B through the API.
send_large() {
    local connector="$1" label="$2" t0 t1 t2 id json status
    local a_cpu0 b_cpu0
    a_cpu0="$(cpu_s "$a_pid")"
    b_cpu0="$(cpu_s "$b_pid")"
    t0="$(now)"
    json="$(curl -sS --fail-with-body -T "$payload" -X POST \
        "http://$a_addr/api/transfers?connector=$connector&file_name=payload-$label.bin")"
    t1="$(now)"
    id="$(jq -r .id <<<"$json")"
    while :; do
        json="$(curl -sS "http://$a_addr/api/transfers/$id")"
        status="$(jq -r .status <<<"$json")"
        # RETRYING: the attempt failed (the next one would be minutes away).
        case "$status" in COMPLETED | FAILED | RETRYING) break ;; esac
        sleep 0.2
    done
    t2="$(now)"
    if [ "$status" != COMPLETED ]; then
        echo "measure.sh: the $label transfer ended $status: $(jq -r .failure <<<"$json")" >&2
        tail -n 20 "$work/a.log" "$work/b.log" >&2
        exit 1
    fi
    # The attempt itself: from the worker's start to the verified MDN.
    local attempt_s upload_s total_s received got
    attempt_s="$(jq -r '(.updated_at - .first_attempt_at) / 1000' <<<"$json")"
    upload_s="$(calc "$t1 - $t0")"
    total_s="$(calc "$t2 - $t0")"
    received="$(find "$work/b-data/PartnerB/inbox/processed" -name "payload-$label.*" \
        ! -name '*.json' ! -name '*.mdn')"
    got="$(sha256sum "$received" | cut -d' ' -f1)"
    if [ "$got" != "$sent_sha" ]; then
        echo "measure.sh: B's copy $received has SHA-256 $got, sent $sent_sha" >&2
        exit 1
    fi
    say "| $label | ${size_mib} MiB | $(printf %.1f "$upload_s") s | $(printf %.1f "$attempt_s") s | $(calc "round($size_mib / $attempt_s, 1)") MiB/s | $(printf %.1f "$total_s") s | $(calc "round($(cpu_s "$a_pid") - $a_cpu0, 1)") s | $(calc "round($(cpu_s "$b_pid") - $b_cpu0, 1)") s | SHA-256 equal, signed MDN verified |"
    rm -f "$received"
}

header() {
    say ""
    say "## $1"
    say ""
    say "Load average before: $(loadavg) ($(nproc) cores)."
    say ""
}

say "# as2-gateway measurements"
say ""
say "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') ($(nproc) cores), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo), $(uname -sr); $(rustc --version); $(date -u +%Y-%m-%d)."

for part in "${parts[@]}"; do
    case "$part" in
    large)
        header "A to B, one ${size_mib} MiB file (random), signed + encrypted, signed sync MDN"
        payload="$work/payload.bin"
        head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$payload"
        sent_sha="$(sha256sum "$payload" | cut -d' ' -f1)"
        start b "$(config gateway/config/partner-b.toml b)"
        b_pid=$PID b_addr=$ADDR
        a_file="$(PEER_URL="http://$b_addr/as2" config gateway/config/partner-a.toml a)"
        # The sample connector compresses (ZLIB); the plain one is the same without it.
        sed -n '/^\[\[connectors\]\]/,$p' "$a_file" \
            | sed -e 's/^id = .*/id = "c-measure-plain"/' -e '/^compression = /d' >"$work/plain.toml"
        cat "$work/plain.toml" >>"$a_file"
        start a "$a_file"
        a_pid=$PID a_addr=$ADDR
        say "| run | size | upload to A's API | A to B, attempt to verified MDN | throughput | upload to COMPLETED | A CPU | B CPU | check |"
        say "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        send_large c-measure-plain plain
        if [ "$compressed" = 1 ]; then
            send_large c-to-partner-b zlib
        fi
        say ""
        say "Peak RSS (VmHWM): PartnerA $(peak_mib "$a_pid") MiB, PartnerB $(peak_mib "$b_pid") MiB."
        stop "$a_pid"
        stop "$b_pid"
        rm -rf "$payload" "$work/a-data" "$work/b-data"
        ;;
    small)
        header "1 KiB messages to B's gateway, signed sync MDNs, $concurrency connections"
        start b "$(config gateway/config/partner-b.toml b)"
        b_pid=$PID b_addr=$ADDR
        say "| run | messages | seconds | messages/s | p50 ms | p99 ms | B CPU s/message | load average |"
        say "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        rates=()
        for ((run = 1; run <= runs; run++)); do
            avg="$(loadavg)"
            cpu0="$(cpu_s "$b_pid")"
            json="$("$load" post --pki "$pki" --url "http://$b_addr/as2" --count "$count" \
                --concurrency "$concurrency" --warmup "$warmup")"
            cpu1="$(cpu_s "$b_pid")"
            rate="$(jq -r .per_second <<<"$json")"
            rates+=("$rate")
            say "| $run | $(jq -r .messages <<<"$json") | $(jq -r '.seconds * 10 | round / 10' <<<"$json") | $(printf %.0f "$rate") | $(jq -r '.latency_ms_p50 | round' <<<"$json") | $(jq -r '.latency_ms_p99 | round' <<<"$json") | $(calc "round(($cpu1 - $cpu0) / ($count + $warmup) * 1000, 2)") ms | $avg |"
        done
        say ""
        say "Median: **$(printf %.0f "$(median "${rates[@]}")") messages/s**; B's peak RSS (VmHWM) $(peak_mib "$b_pid") MiB after $((runs * count)) messages (+ warm-up)."
        stop "$b_pid"
        rm -rf "$work/b-data"
        ;;
    inproc)
        header "In-process parse + signed MDN, 1 KiB messages, one thread"
        py="${AS2_PEER_PYTHON:-}"
        [ -n "$py" ] || py="$(bash tests/pyas2lib/setup.sh | tail -n1)"
        "$load" build --pki "$pki" --out "$work/messages" --count "$parse_messages" >/dev/null
        say "| run | as2-proto messages/s | per CPU s | pyas2lib messages/s | per CPU s | load average |"
        say "| ---: | ---: | ---: | ---: | ---: | --- |"
        ours=() theirs=() ours_cpu=() theirs_cpu=()
        for ((run = 1; run <= runs; run++)); do
            avg="$(loadavg)"
            a="$("$load" parse --pki "$pki" --dir "$work/messages" --seconds "$seconds")"
            p="$("$py" gateway/bench/pyas2lib_mdn_rate.py --pki "$pki" --dir "$work/messages" \
                --seconds "$seconds")"
            ours+=("$(jq -r .per_second <<<"$a")") theirs+=("$(jq -r .per_second <<<"$p")")
            ours_cpu+=("$(jq -r .per_cpu_second <<<"$a")") theirs_cpu+=("$(jq -r .per_cpu_second <<<"$p")")
            say "| $run | $(printf %.0f "${ours[-1]}") | $(printf %.0f "${ours_cpu[-1]}") | $(printf %.1f "${theirs[-1]}") | $(printf %.1f "${theirs_cpu[-1]}") | $avg |"
        done
        m_ours="$(median "${ours[@]}")" m_theirs="$(median "${theirs[@]}")"
        c_ours="$(median "${ours_cpu[@]}")" c_theirs="$(median "${theirs_cpu[@]}")"
        say ""
        say "Median: as2-proto **$(printf %.0f "$m_ours") messages/s** ($(printf %.0f "$c_ours") per CPU second), pyas2lib **$(printf %.1f "$m_theirs") messages/s** ($(printf %.1f "$c_theirs") per CPU second): $(calc "round($c_ours / $c_theirs, 1)")× per CPU second."
        ;;
    *)
        echo "measure.sh: unknown part $part (large, small, inproc)" >&2
        exit 2
        ;;
    esac
done

mkdir -p "$(dirname "$out_file")"
printf '%s\n' "${results[@]}" >"$out_file"
echo "written to $out_file" >&2
