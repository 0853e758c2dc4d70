//! EDI-like test payloads for the benches: X12 850 purchase orders, one segment per line,
//! with varying numbers, quantities and item codes (deterministic, no RNG crate needed).
//! `benches/gen_payload.py` writes the same text for the comparison script.

/// `len` bytes of X12-like text.
pub fn x12(len: usize) -> Vec<u8> {
    // Room for the last interchange, so the buffer never grows (the memory bench counts
    // its capacity).
    let mut out = Vec::with_capacity(len + 8192);
    // xorshift64*: cheap, deterministic variety in the numbers.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut control = 1u64;
    while out.len() < len {
        let isa = format!(
            "ISA*00*          *00*          *ZZ*SENDERID       *ZZ*RECEIVERID     \
             *260101*1200*U*00401*{control:09}*0*P*>~\n\
             GS*PO*SENDERID*RECEIVERID*20260101*1200*{control}*X*004010~\n\
             ST*850*{control:04}~\nBEG*00*SA*PO{:08}**20260101~\n\
             REF*DP*{:03}~\nDTM*002*202601{:02}~\nN1*ST*STORE {:04}*92*{:05}~\n",
            next() % 100_000_000,
            next() % 1000,
            next() % 28 + 1,
            next() % 10_000,
            next() % 100_000,
        );
        out.extend_from_slice(isa.as_bytes());
        let lines = next() % 40 + 10;
        for line in 1..=lines {
            let seg = format!(
                "PO1*{line}*{}*EA*{}.{:02}**UP*{:012}*VN*ITEM-{:06}~\nPID*F****DESCRIPTION OF ITEM {:06}~\n",
                next() % 500 + 1,
                next() % 200,
                next() % 100,
                next() % 1_000_000_000_000,
                next() % 1_000_000,
                next() % 1_000_000,
            );
            out.extend_from_slice(seg.as_bytes());
        }
        let tail = format!(
            "CTT*{lines}~\nSE*{}*{control:04}~\nGE*1*{control}~\nIEA*1*{control:09}~\n",
            lines * 2 + 7
        );
        out.extend_from_slice(tail.as_bytes());
        control += 1;
    }
    out.truncate(len);
    out.shrink_to_fit();
    out
}
