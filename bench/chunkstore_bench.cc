// bench/chunkstore_bench.cc: micro-benchmarks of the chunk store's hot paths: the segmenter's cut
// decision per entry, XXH3-128 chunk ids, SHA-256 of the artifact stream, zstd compression and
// decompression of a segment, and manifest encode/decode. The anchor for cross-machine comparison
// is BM_Xxh3 (measured in the same run): ingest throughput is bounded by zstd, so the ratio
// BM_ZstdCompress : BM_Xxh3 is the number to watch.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "chunkstore/chunk_id.h"
#include "chunkstore/codec.h"
#include "chunkstore/manifest.h"
#include "chunkstore/segmenter.h"

namespace {

// 256 KiB of text-like bytes (the segment target size): compresses roughly like /usr/share/doc.
const std::string& Segment() {
  static const std::string s = [] {
    std::string out;
    uint64_t x = 88172645463325252ull;
    static const char* kWords[] = {"kernel ", "module ", "node ", "overlay ", "image ", "\n",
                                   "/usr/lib/", "0x7f3a ", "config ", "systemd "};
    while (out.size() < 262144) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      out += kWords[x % 10];
    }
    out.resize(262144);
    return out;
  }();
  return s;
}

sw::ByteSpan Span(const std::string& s) {
  return sw::ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

void BM_SegmenterCut(benchmark::State& state) {
  sw::SegmenterOptions o;
  uint64_t i = 0;
  for (auto _ : state) {
    uint64_t fp = sw::EntryFingerprint("usr/share/doc/pkg/changelog.Debian.gz", 0100644, 0, 0,
                                       1700000000 + static_cast<int64_t>(i), 4096 + i, 0, 0, "");
    benchmark::DoNotOptimize(sw::CutAfter(fp, 4096 + i, o));
    ++i;
  }
}
BENCHMARK(BM_SegmenterCut);

void BM_Xxh3(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(sw::ChunkId::Of(Span(Segment())));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * Segment().size()));
}
BENCHMARK(BM_Xxh3);

void BM_Sha256(benchmark::State& state) {
  for (auto _ : state) {
    sw::Sha256 h;
    h.Update(Span(Segment()));
    benchmark::DoNotOptimize(h.Finish());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * Segment().size()));
}
BENCHMARK(BM_Sha256);

void BM_ZstdCompress(benchmark::State& state) {
  int level = static_cast<int>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(sw::ZstdCompress(Span(Segment()), level));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * Segment().size()));
}
BENCHMARK(BM_ZstdCompress)->Arg(3)->Arg(19)->Unit(benchmark::kMicrosecond);

void BM_ZstdDecode(benchmark::State& state) {
  sw::EncodedChunk e = sw::EncodeChunk(Span(Segment()), 3, false);
  for (auto _ : state) {
    auto raw = sw::DecodeChunk(Span(e.stored), Segment().size());
    benchmark::DoNotOptimize(raw);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * Segment().size()));
}
BENCHMARK(BM_ZstdDecode)->Unit(benchmark::kMicrosecond);

// A 1 GB image: ~4,000 segments.
sw::Manifest BigManifest() {
  sw::Manifest m;
  m.kind = sw::ArtifactKind::kImage;
  m.SetMeta("name", "rocky-9");
  for (int i = 0; i < 4000; ++i) {
    std::string seed = "segment " + std::to_string(i);
    m.chunks.push_back({sw::ChunkId::Of(seed), 262144, 90000, sw::ChunkEncoding::kZstd});
    m.total_raw_size += 262144;
  }
  return m;
}

void BM_ManifestEncode(benchmark::State& state) {
  sw::Manifest m = BigManifest();
  for (auto _ : state) benchmark::DoNotOptimize(m.Encode());
}
BENCHMARK(BM_ManifestEncode)->Unit(benchmark::kMicrosecond);

void BM_ManifestDecode(benchmark::State& state) {
  std::string bytes = BigManifest().Encode();
  for (auto _ : state) benchmark::DoNotOptimize(sw::Manifest::Decode(bytes));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_ManifestDecode)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
