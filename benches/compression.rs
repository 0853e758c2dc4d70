//! zlib compression (RFC 5402 via CompressedData) on X12-like text: zlib-rs (what the
//! crate compresses with) and miniz_oxide (what it decompresses with, and compressed with
//! before) at every level, to choose `CompressOptions::default` deliberately.
//! `benches/compare.sh` measures C zlib (Python's `zlib`) on the same text; the ratios are
//! printed once per level.
//!
//! ```sh
//! nice -n 10 cargo bench --bench compression
//! ```

use std::hint::black_box;
use std::time::Duration;

use as2_proto::Limits;
use as2_proto::cms::compressed::{self, CompressOptions, CompressedData};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[path = "edi.rs"]
mod edi;

const LEN: usize = 10 * 1024 * 1024;

fn levels(c: &mut Criterion) {
    let text = edi::x12(LEN);
    let mut group = c.benchmark_group("deflate_x12_10MiB");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(3));
    let zlib_rs = |level: u8| {
        let mut out = vec![0u8; zlib_rs::deflate::compress_bound(text.len())];
        let config = zlib_rs::deflate::DeflateConfig::new(i32::from(level));
        let (compressed, rc) = zlib_rs::deflate::compress_slice(&mut out, &text, config);
        assert_eq!(rc, zlib_rs::ReturnCode::Ok);
        compressed.len()
    };
    for level in 1..=9u8 {
        let miniz = miniz_oxide::deflate::compress_to_vec_zlib(&text, level).len();
        let zrs = zlib_rs(level);
        for (name, len) in [("miniz_oxide", miniz), ("zlib-rs", zrs)] {
            eprintln!(
                "{name} level {level}: {LEN} -> {len} bytes, ratio {:.2}",
                LEN as f64 / len as f64
            );
        }
        group.bench_function(BenchmarkId::new("miniz_oxide", level), |b| {
            b.iter(|| miniz_oxide::deflate::compress_to_vec_zlib(black_box(&text), level))
        });
        group.bench_function(BenchmarkId::new("zlib-rs", level), |b| {
            b.iter(|| zlib_rs(black_box(level)))
        });
    }
    group.bench_function("crate_default", |b| {
        b.iter(|| compressed::compress(black_box(&text), CompressOptions::default()))
    });
    group.finish();

    let limits = Limits::default();
    let info = compressed::compress(&text, CompressOptions::default());
    let mut group = c.benchmark_group("inflate_x12_10MiB");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("crate_default", |b| {
        b.iter(|| {
            CompressedData::parse(black_box(&info), &limits)
                .unwrap()
                .decompress(&limits)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, levels);
criterion_main!(benches);
