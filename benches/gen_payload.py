#!/usr/bin/env python3
"""Writes LEN bytes of X12-like text (850 purchase orders, one segment per line) to OUT:
byte for byte the text `benches/edi.rs` generates for the criterion benches.

    gen_payload.py LEN OUT
"""
import sys

MASK = (1 << 64) - 1


def x12(length):
    state = 0x9E3779B97F4A7C15

    def nxt():
        nonlocal state
        state ^= state >> 12
        state ^= (state << 25) & MASK
        state ^= state >> 27
        return (state * 0x2545F4914F6CDD1D) & MASK

    out = bytearray()
    control = 1
    while len(out) < length:
        a, b, c, d, e = (nxt() % 100_000_000, nxt() % 1000, nxt() % 28 + 1,
                         nxt() % 10_000, nxt() % 100_000)
        out += (
            "ISA*00*          *00*          *ZZ*SENDERID       *ZZ*RECEIVERID     "
            f"*260101*1200*U*00401*{control:09d}*0*P*>~\n"
            f"GS*PO*SENDERID*RECEIVERID*20260101*1200*{control}*X*004010~\n"
            f"ST*850*{control:04d}~\nBEG*00*SA*PO{a:08d}**20260101~\n"
            f"REF*DP*{b:03d}~\nDTM*002*202601{c:02d}~\nN1*ST*STORE {d:04d}*92*{e:05d}~\n"
        ).encode()
        lines = nxt() % 40 + 10
        for line in range(1, lines + 1):
            q, p1, p2, up, vn, pid = (nxt() % 500 + 1, nxt() % 200, nxt() % 100,
                                      nxt() % 1_000_000_000_000, nxt() % 1_000_000,
                                      nxt() % 1_000_000)
            out += (
                f"PO1*{line}*{q}*EA*{p1}.{p2:02d}**UP*{up:012d}*VN*ITEM-{vn:06d}~\n"
                f"PID*F****DESCRIPTION OF ITEM {pid:06d}~\n"
            ).encode()
        out += (f"CTT*{lines}~\nSE*{lines * 2 + 7}*{control:04d}~\nGE*1*{control}~\n"
                f"IEA*1*{control:09d}~\n").encode()
        control += 1
    del out[length:]
    return bytes(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: gen_payload.py LEN OUT")
    data = x12(int(sys.argv[1]))
    with open(sys.argv[2], "wb") as f:
        f.write(data)
