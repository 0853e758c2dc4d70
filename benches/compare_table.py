#!/usr/bin/env python3
"""Formats benches/compare.sh's measurements as a Markdown table (stdout).

    compare_table.py RAW.tsv ZLIB.tsv SIZE...

RAW.tsv rows: tool, size, phase (build|parse|both), best wall time in microseconds,
peak RSS in KiB. ZLIB.tsv rows: implementation, level, MiB/s, ratio.
"""
import datetime
import os
import platform
import subprocess
import sys


def size_bytes(s):
    for suffix, mult in (("KiB", 1024), ("MiB", 1024 ** 2), ("GiB", 1024 ** 3)):
        if s.endswith(suffix):
            return int(s[: -len(suffix)]) * mult
    return int(s)


def cmd(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    flags = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                flags = ", ".join(x for x in ("aes", "sha_ni", "avx2", "avx512f", "vaes") if x in have)
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.0f} GiB"
    return (f"{cpu} ({os.cpu_count()} cores; {flags}), {mem} RAM, Linux {platform.release()}; "
            f"{cmd('rustc', '--version')}; {cmd('openssl', 'version')}; "
            f"Python {platform.python_version()}; {datetime.date.today().isoformat()}")


def main():
    raw, zlib_tsv, sizes = sys.argv[1], sys.argv[2], sys.argv[3:]
    rows = {}
    for line in open(raw):
        tool, size, phase, micros, rss = line.rstrip("\n").split("\t")
        rows[(tool, size, phase)] = (int(micros) / 1e6, int(rss) * 1024)
    tools = ["as2-proto", "openssl", "pyas2lib"]
    out = [f"Machine: {machine()}.", ""]
    out.append("Sign (SHA-256, RSA-2048) + encrypt (AES-256-CBC) = **build**; decrypt + verify = "
               "**parse**. Whole processes: start-up, reading the input file and writing the "
               "outputs included. *×as2* = time relative to as2-proto; *peak* = max RSS "
               "(/usr/bin/time -v); *×size* = (peak − the same tool's peak at the smallest "
               "size, i.e. its start-up footprint) / payload size: the memory that grows with "
               "the payload, the input file read into memory and the output included.")
    out.append("")
    out.append("| payload | tool | build | MiB/s | ×as2 | peak MiB | ×size | parse | MiB/s | ×as2 | peak MiB | ×size |")
    out.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in sizes:
        n = size_bytes(size)
        for tool in tools:
            cells = [size, tool]
            for phase in ("build", "parse"):
                t, rss = rows.get((tool, size, phase), (None, None))
                ours = rows.get(("as2-proto", size, phase), (None, None))[0]
                base = rows.get((tool, sizes[0], phase), (None, None))[1]
                if t is None:
                    cells += ["–"] * 5
                    continue
                cells += [
                    f"{t * 1000:.0f} ms" if t >= 0.1 else f"{t * 1000:.1f} ms",
                    f"{n / t / 2**20:.1f}",
                    f"{t / ours:.2f}" if ours else "–",
                    f"{rss / 2**20:.0f}",
                    f"{(rss - base) / n:.1f}" if size != sizes[0] and base else "–",
                ]
            out.append("| " + " | ".join(cells) + " |")
    both = [(s, rows[("pyas2lib", s, "both")]) for s in sizes if ("pyas2lib", s, "both") in rows]
    if both:
        out.append("")
        out.append("pyas2lib building and parsing in one process: " + "; ".join(
            f"{s}: {t:.2f} s, peak {rss / 2**20:.0f} MiB"
            + (f" ({(rss - both[0][1][1]) / size_bytes(s):.1f}× payload above start-up)"
               if s != both[0][0] else "")
            for s, (t, rss) in both) + ".")
    zl = [l.rstrip("\n").split("\t") for l in open(zlib_tsv) if l.strip()]
    if zl:
        out.append("")
        out.append("zlib on 10 MiB of X12-like text (compression only; MiB/s of input):")
        out.append("")
        impls = list(dict.fromkeys(r[0] for r in zl))
        out.append("| level | " + " | ".join(f"{i} MiB/s | {i} ratio" for i in impls) + " |")
        out.append("| ---: |" + " ---: | ---: |" * len(impls))
        table = {(r[0], r[1]): (r[2], r[3]) for r in zl}
        for level in range(1, 10):
            cells = [str(level)]
            for i in impls:
                mbs, ratio = table.get((i, str(level)), ("–", "–"))
                cells += [mbs, ratio]
            out.append("| " + " | ".join(cells) + " |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
