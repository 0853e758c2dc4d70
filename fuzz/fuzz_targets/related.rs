#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| as2_proto_fuzz::targets::related(data));
