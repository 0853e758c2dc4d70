//! zlib compression (RFC 5402 via CompressedData) on X12-like text: miniz_oxide at every
//! level, to choose `CompressOptions::default` deliberately. `benches/compare.sh` measures
//! C zlib (Python's `zlib`) on the same text; the ratios are printed once per level.
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
    for level in 1..=9u8 {
        let out = miniz_oxide::deflate::compress_to_vec_zlib(&text, level);
        eprintln!(
            "miniz_oxide level {level}: {} -> {} bytes, ratio {:.2}",
            LEN,
            out.len(),
            LEN as f64 / out.len() as f64
        );
        group.bench_function(BenchmarkId::new("miniz_oxide", level), |b| {
            b.iter(|| miniz_oxide::deflate::compress_to_vec_zlib(black_box(&text), level))
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
