#include "chunkstore/manifest.h"

#include <string>

#include "chunkstore/codec.h"
#include "gtest/gtest.h"

namespace sw {
namespace {

Manifest Sample() {
  Manifest m;
  m.kind = ArtifactKind::kImage;
  m.created_unix = 1700000000;
  for (int i = 0; i < 3; ++i) {
    ManifestChunk c;
    c.id = ChunkId::Of("chunk" + std::to_string(i));
    c.raw_size = 100 + i;
    c.stored_size = 50 + i;
    c.encoding = i == 2 ? ChunkEncoding::kRaw : ChunkEncoding::kZstd;
    m.total_raw_size += c.raw_size;
    m.chunks.push_back(c);
  }
  m.sha256 = Sha256Of(ByteSpan(reinterpret_cast<const uint8_t*>("x"), 1));
  m.SetMeta("name", "rocky9");
  m.SetMeta("kernel_version", "6.1.0");
  return m;
}

TEST(ManifestTest, RoundTripIsDeterministic) {
  Manifest m = Sample();
  std::string a = m.Encode();
  auto d = Manifest::Decode(a);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->Encode(), a);
  EXPECT_EQ(d->chunks.size(), 3u);
  EXPECT_EQ(d->chunks[2].encoding, ChunkEncoding::kRaw);
  EXPECT_EQ(*d->Meta("name"), "rocky9");
  EXPECT_EQ(d->Sha256Hex(), m.Sha256Hex());
  // Meta order does not change the encoding (sorted), so ids are stable.
  Manifest m2 = m;
  std::swap(m2.meta[0], m2.meta[1]);
  EXPECT_EQ(m2.Id(), m.Id());
}

TEST(ManifestTest, SameContentIgnoresOnlyTheCreationTime) {
  Manifest m = Sample();
  Manifest later = m;
  later.created_unix += 5;
  EXPECT_NE(later.Id(), m.Id());
  EXPECT_TRUE(later.SameContentAs(m));
  EXPECT_TRUE(m.SameContentAs(later));
  Manifest other = later;
  other.SetMeta("name", "rocky9.1");
  EXPECT_FALSE(other.SameContentAs(m));
  other = later;
  other.chunks[0].raw_size += 1;
  other.total_raw_size += 1;
  EXPECT_FALSE(other.SameContentAs(m));
}

TEST(ManifestTest, RejectsEveryCorruption) {
  std::string good = Sample().Encode();
  EXPECT_TRUE(Manifest::Decode(good.substr(0, 10)).status().IsCorruption());
  EXPECT_TRUE(Manifest::Decode(good.substr(0, good.size() - 1)).status().IsCorruption());
  // Every single flipped bit anywhere is caught (checksum, or a field check).
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x10;
    EXPECT_FALSE(Manifest::Decode(bad).ok()) << "byte " << i;
  }
  EXPECT_TRUE(Manifest::Decode(std::string(200, '\0')).status().IsCorruption());
}

TEST(ManifestTest, EmptyArtifact) {
  Manifest m;
  m.kind = ArtifactKind::kOverlay;
  auto d = Manifest::Decode(m.Encode());
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->chunks.empty());
  EXPECT_EQ(d->kind, ArtifactKind::kOverlay);
}

TEST(CodecTest, ZstdAndRawEncodings) {
  std::string text(100000, 'a');
  ByteSpan t(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  EncodedChunk e = EncodeChunk(t, 3, true);
  EXPECT_EQ(e.encoding, ChunkEncoding::kZstd);
  EXPECT_LT(e.stored.size(), text.size() / 10);
  auto back = DecodeChunk(ByteSpan(reinterpret_cast<const uint8_t*>(e.stored.data()),
                                   e.stored.size()),
                          text.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
  // Incompressible data stays raw when allowed, and still zstd when not.
  std::string noise(65536, '\0');
  uint32_t x = 12345;
  for (char& c : noise) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  ByteSpan n(reinterpret_cast<const uint8_t*>(noise.data()), noise.size());
  EXPECT_EQ(EncodeChunk(n, 3, true).encoding, ChunkEncoding::kRaw);
  EXPECT_EQ(EncodeChunk(n, 3, false).encoding, ChunkEncoding::kZstd);
  // Raw bytes that begin with the zstd magic are never stored raw (self-description).
  std::string tricky = std::string("\x28\xB5\x2F\xFD", 4) + noise;
  EXPECT_EQ(EncodeChunk(ByteSpan(reinterpret_cast<const uint8_t*>(tricky.data()), tricky.size()),
                        3, true)
                .encoding,
            ChunkEncoding::kZstd);
  // A truncated frame and a wrong expected size are corruption.
  EXPECT_TRUE(ZstdDecompress(ByteSpan(reinterpret_cast<const uint8_t*>(e.stored.data()),
                                      e.stored.size() - 3))
                  .status()
                  .IsCorruption());
  EXPECT_TRUE(ZstdDecompress(ByteSpan(reinterpret_cast<const uint8_t*>(e.stored.data()),
                                      e.stored.size()),
                             5)
                  .status()
                  .IsCorruption());
}

TEST(CodecTest, DecodeIntoACallersBuffer) {
  std::string text;
  for (int i = 0; i < 50000; ++i) text += "entry " + std::to_string(i % 313) + "\n";
  ByteSpan t(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  std::string z = ZstdCompress(t, 3);
  ByteSpan zs(reinterpret_cast<const uint8_t*>(z.data()), z.size());
  std::string out(text.size() + 16, 'x');  // reused: larger than needed, old bytes in it
  MutableByteSpan dst(reinterpret_cast<uint8_t*>(out.data()), text.size());
  ASSERT_TRUE(DecodeChunkInto(zs, dst).ok());
  EXPECT_EQ(out.substr(0, text.size()), text);
  EXPECT_EQ(out.substr(text.size()), std::string(16, 'x'));  // nothing written past the span
  // Raw stored bytes are copied; a size other than the span's is corruption, either encoding.
  ASSERT_TRUE(DecodeChunkInto(t.subspan(0, 100), dst.subspan(0, 100)).ok());
  EXPECT_TRUE(DecodeChunkInto(zs, dst.subspan(0, text.size() - 1)).IsCorruption());
  EXPECT_TRUE(DecodeChunkInto(zs.subspan(0, z.size() - 3), dst).IsCorruption());
  EXPECT_TRUE(DecodeChunkInto(t.subspan(0, 99), dst.subspan(0, 100)).IsCorruption());
}

TEST(CodecTest, HighLevelFramesKeepAKernelFriendlyWindow) {
  std::string text;
  for (int i = 0; i < 200000; ++i) text += "line " + std::to_string(i % 977) + "\n";
  ByteSpan t(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  for (int level : {1, 3, 19, 22}) {
    std::string z = ZstdCompress(t, level);
    auto back = ZstdDecompress(ByteSpan(reinterpret_cast<const uint8_t*>(z.data()), z.size()),
                               text.size());
    ASSERT_TRUE(back.ok()) << level;
    EXPECT_EQ(*back, text);
  }
}

TEST(CodecTest, Sha256KnownAnswer) {
  auto d = Sha256Of(ByteSpan(reinterpret_cast<const uint8_t*>("abc"), 3));
  Manifest m;
  m.sha256 = d;
  EXPECT_EQ(m.Sha256Hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace sw
