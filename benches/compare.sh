#!/usr/bin/env bash
# Times and measures peak memory, in one run on one machine, of the same AS2 work done by
#   - our CLI example:  as2 send / as2 receive (release build),
#   - the OpenSSL CLI:  openssl cms -sign then -encrypt; -decrypt then -verify,
#   - pyas2lib 1.4.4:   Message.build / Message.parse (benches/pyas2lib_roundtrip.py),
# for X12-like payloads (benches/gen_payload.py) with a SHA-256 RSA signature and
# AES-256-CBC encryption (2048-bit keys from examples/pki). Then C zlib (Python's zlib)
# against zlib-rs and miniz_oxide (the `compression` criterion bench) on 10 MiB of the same
# text.
#
#   bash benches/compare.sh [SIZE...]      sizes like 1KiB 1MiB 10MiB 50MiB 1GiB (the default)
#
# A peer that fails at a size (out of memory under the COMPARE_PEER_MEM_GIB address-space
# cap, default 16, or any error) gets no row for it and a note under the table: the table
# shows who survives a 1 GiB file, not only how fast.
#
# Wall time is the best of several runs of the whole process (start-up, reading the
# inputs and writing the outputs included); peak memory is the largest "Maximum resident
# set size" that /usr/bin/time -v reports over those runs. The table goes to stdout and to
# benches/compare-results.md (override with COMPARE_OUT=FILE). Needs python3, openssl and
# /usr/bin/time (installed with apt-get when missing and running as root); pyas2lib comes
# from tests/pyas2lib/setup.sh, or from AS2_PEER_PYTHON when set. Set COMPARE_SKIP_ZLIB=1
# to skip the zlib part (it runs a criterion bench, about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1KiB 1MiB 10MiB 50MiB 1GiB)
peer_mem_kib=$(( ${COMPARE_PEER_MEM_GIB:-16} * 1024 * 1024 ))
out_file="${COMPARE_OUT:-$repo/benches/compare-results.md}"
work="$repo/target/compare"
pki="$repo/examples/pki"

# --- tools -------------------------------------------------------------------------------
need=()
[ -x /usr/bin/time ] || need+=(time)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq "${need[@]}" >&2
    else
        echo "compare.sh: please install: ${need[*]}" >&2
        exit 2
    fi
fi
py="${AS2_PEER_PYTHON:-}"
if [ -z "$py" ]; then
    py="$(bash tests/pyas2lib/setup.sh | tail -n1)"
fi
"$py" -c 'import pyas2lib' >/dev/null

echo "building the as2 CLI (release)..." >&2
nice -n 10 cargo build --release --quiet --example as2 >&2
as2="$repo/target/release/examples/as2"

rm -rf "$work"
mkdir -p "$work"
raw="$work/raw.tsv"
: >"$raw"

bytes_of() {
    local n="${1%[KMG]iB}"
    case "$1" in
    *KiB) echo $((n * 1024)) ;;
    *MiB) echo $((n * 1024 * 1024)) ;;
    *GiB) echo $((n * 1024 * 1024 * 1024)) ;;
    *) echo "$1" ;;
    esac
}

# measure LABEL SIZE PHASE REPS -- command...: best wall time (s) and largest max RSS (KiB).
measure() {
    local tool="$1" size="$2" phase="$3" reps="$4"
    shift 5
    local best="" peak=0 i t0 t1 t rss
    for ((i = 0; i < reps; i++)); do
        t0=$(date +%s%N)
        if ! /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/stdout.txt" 2>"$work/stderr.txt"; then
            echo "compare.sh: $tool $phase $size failed: $*" >&2
            tail -n 3 "$work/stderr.txt" >&2
            if [ "$tool" = as2-proto ]; then
                exit 1
            fi
            # A peer that does not survive the size: noted, no row.
            printf -- '- %s %s at %s: failed (%s)\n' "$tool" "$phase" "$size" \
                "$(tail -n 1 "$work/stderr.txt" | cut -c1-160)" >>"$work/notes.md"
            return 1
        fi
        t1=$(date +%s%N)
        t=$(((t1 - t0) / 1000))
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
        if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
        if [ "$rss" -gt "$peak" ]; then peak=$rss; fi
    done
    printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "$size" "$phase" "$best" "$peak" >>"$raw"
}

# Sequences of commands count as one phase: time them together, keep the larger peak.
openssl_build() {
    openssl cms -sign -binary -md sha256 -signer "$pki/PartnerA/sign.crt" \
        -inkey "$pki/PartnerA/sign.key" -in "$1" -out "$2/signed.smime"
    openssl cms -encrypt -binary -aes256 -outform DER -in "$2/signed.smime" \
        -out "$2/body.der" "$pki/PartnerB/enc.crt"
}
openssl_parse() {
    openssl cms -decrypt -binary -inform DER -in "$1/body.der" \
        -recip "$pki/PartnerB/enc.crt" -inkey "$pki/PartnerB/enc.key" -out "$2/signed.smime"
    openssl cms -verify -binary -CAfile "$pki/ca/ca.crt" -in "$2/signed.smime" \
        -out "$2/payload.bin" 2>/dev/null
}
# Peers run under an address-space cap (ulimit -v) so that one that holds a 1 GiB file
# several times over fails cleanly instead of exhausting the machine.
capped() {
    ulimit -v "$peer_mem_kib"
    exec "$@"
}
export -f openssl_build openssl_parse capped
export pki peer_mem_kib
: >"$work/notes.md"

for size in "${sizes[@]}"; do
    len=$(bytes_of "$size")
    reps=5
    [ "$len" -ge $((10 * 1024 * 1024)) ] && reps=3
    [ "$len" -ge $((50 * 1024 * 1024)) ] && reps=2
    [ "$len" -ge $((512 * 1024 * 1024)) ] && reps=1
    d="$work/$size"
    mkdir -p "$d"
    payload="$d/payload.x12"
    python3 benches/gen_payload.py "$len" "$payload"
    echo "== $size ($len bytes), best of $reps" >&2

    measure as2-proto "$size" build "$reps" -- "$as2" send --pki "$pki" --from PartnerA \
        --to PartnerB --payload "$payload" --out "$d/ours-msg" --sign sha256 \
        --encrypt aes_256_cbc --mdn sync-signed --max-payload-size $((len + 1))
    measure as2-proto "$size" parse "$reps" -- "$as2" receive --pki "$pki" \
        --headers "$d/ours-msg/headers.json" --body "$d/ours-msg/body.bin" --out "$d/ours-rcv" \
        --max-body-size $((len + 1024 * 1024))
    cmp -s "$payload" "$d/ours-rcv/payload.bin" || { echo "as2: payload differs" >&2; exit 1; }

    mkdir -p "$d/openssl-msg" "$d/openssl-rcv"
    if measure openssl "$size" build "$reps" -- bash -c 'ulimit -v "$peer_mem_kib"; openssl_build "$1" "$2"' _ "$payload" "$d/openssl-msg" &&
        measure openssl "$size" parse "$reps" -- bash -c 'ulimit -v "$peer_mem_kib"; openssl_parse "$1" "$2"' _ "$d/openssl-msg" "$d/openssl-rcv"; then
        cmp -s "$payload" "$d/openssl-rcv/payload.bin" || { echo "openssl: payload differs" >&2; exit 1; }
    fi
    rm -rf "$d/openssl-msg" "$d/openssl-rcv"

    if measure pyas2lib "$size" build "$reps" -- bash -c 'capped "$@"' _ "$py" benches/pyas2lib_roundtrip.py build \
        --pki "$pki" --payload "$payload" --out "$d/py-msg" &&
        measure pyas2lib "$size" parse "$reps" -- bash -c 'capped "$@"' _ "$py" benches/pyas2lib_roundtrip.py parse \
            --pki "$pki" --in "$d/py-msg" --out "$d/py-rcv"; then
        cmp -s "$payload" "$d/py-rcv/payload.bin" || { echo "pyas2lib: payload differs" >&2; exit 1; }
    fi
    if [ "$len" -lt $((512 * 1024 * 1024)) ]; then
        measure pyas2lib "$size" both 1 -- "$py" benches/pyas2lib_roundtrip.py both \
            --pki "$pki" --payload "$payload" --out "$d/py-both" || true
    fi
    rm -rf "$d"/*-msg "$d"/*-rcv "$d"/py-both
done

# --- zlib: C zlib (Python) vs miniz_oxide (criterion) on 10 MiB of X12 ------------------
zlib_tsv="$work/zlib.tsv"
: >"$zlib_tsv"
if [ "${COMPARE_SKIP_ZLIB:-0}" != 1 ]; then
    python3 benches/gen_payload.py $((10 * 1024 * 1024)) "$work/zlib.x12"
    python3 - "$work/zlib.x12" >>"$zlib_tsv" <<'PYEOF'
import sys, time, zlib
data = open(sys.argv[1], "rb").read()
for level in range(1, 10):
    best = None
    for _ in range(3):
        t = time.perf_counter()
        size = len(zlib.compress(data, level))
        t = time.perf_counter() - t
        best = t if best is None else min(best, t)
    print(f"C zlib {zlib.ZLIB_RUNTIME_VERSION}\t{level}\t{len(data) / best / 2**20:.1f}\t{len(data) / size:.2f}")
PYEOF
    echo "running the compression bench (zlib-rs and miniz_oxide, levels 1-9)..." >&2
    nice -n 10 cargo bench --quiet --bench compression -- deflate >"$work/miniz.txt" 2>&1
    python3 - "$repo/target/criterion" "$work/miniz.txt" >>"$zlib_tsv" <<'PYEOF'
import json, os, re, sys
root, log = sys.argv[1], open(sys.argv[2]).read()
ratios = {(m[0], int(m[1])): m[2] for m in
          re.findall(r"(miniz_oxide|zlib-rs) level (\d): \d+ -> \d+ bytes, ratio ([\d.]+)", log)}
for name in ("zlib-rs", "miniz_oxide"):
    for level in range(1, 10):
        path = os.path.join(root, "deflate_x12_10MiB", name, str(level), "new", "estimates.json")
        secs = json.load(open(path))["median"]["point_estimate"] / 1e9
        print(f"{name}\t{level}\t{10 / secs:.1f}\t{ratios.get((name, level), '?')}")
PYEOF
fi

{
    python3 benches/compare_table.py "$raw" "$zlib_tsv" "${sizes[@]}"
    if [ -s "$work/notes.md" ]; then
        printf '\nDid not survive (address space capped at %s GiB per peer process):\n\n' "${COMPARE_PEER_MEM_GIB:-16}"
        cat "$work/notes.md"
    fi
} | tee "$out_file"
echo "written to $out_file" >&2
