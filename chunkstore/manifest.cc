// Byte layout: docs/formats/manifest.md.
#include "chunkstore/manifest.h"

#include <algorithm>
#include <cstring>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "common/hex.h"

namespace sw {
namespace {

constexpr char kMagic[4] = {'S', 'W', 'M', 'F'};
constexpr size_t kHeaderSize = 64;
constexpr size_t kChunkRecordSize = 40;
constexpr size_t kTrailerSize = 8;
constexpr uint32_t kMaxMeta = 4096;
constexpr uint32_t kMaxMetaValue = 1 << 20;

void PutU16(std::string* s, uint16_t v) {
  for (int i = 0; i < 2; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t GetLE(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

}  // namespace

const char* ArtifactKindName(ArtifactKind k) {
  switch (k) {
    case ArtifactKind::kImage:
      return "image";
    case ArtifactKind::kKernel:
      return "kernel";
    case ArtifactKind::kOverlay:
      return "overlay";
    case ArtifactKind::kModules:
      return "modules";
  }
  return "unknown";
}

std::optional<std::string_view> Manifest::Meta(std::string_view key) const {
  for (const auto& [k, v] : meta) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

void Manifest::SetMeta(std::string_view key, std::string_view value) {
  for (auto& [k, v] : meta) {
    if (k == key) {
      v = std::string(value);
      return;
    }
  }
  meta.emplace_back(std::string(key), std::string(value));
}

bool Manifest::SameContentAs(const Manifest& other) const {
  Manifest probe = *this;
  probe.created_unix = other.created_unix;
  return probe.Encode() == other.Encode();
}

std::string Manifest::Sha256Hex() const { return HexEncode(sha256.data(), sha256.size()); }

std::string Manifest::Encode() const {
  auto sorted = meta;
  std::sort(sorted.begin(), sorted.end());
  std::string s;
  s.reserve(kHeaderSize + chunks.size() * kChunkRecordSize + 64 + kTrailerSize);
  s.append(kMagic, 4);
  PutU16(&s, kVersion);
  s.push_back(static_cast<char>(kind));
  s.push_back('\0');
  PutU64(&s, static_cast<uint64_t>(created_unix));
  PutU64(&s, total_raw_size);
  s.append(reinterpret_cast<const char*>(sha256.data()), sha256.size());
  PutU32(&s, static_cast<uint32_t>(chunks.size()));
  PutU32(&s, static_cast<uint32_t>(sorted.size()));
  for (const auto& c : chunks) {
    s.append(reinterpret_cast<const char*>(c.id.bytes.data()), 16);
    PutU64(&s, c.raw_size);
    PutU64(&s, c.stored_size);
    s.push_back(static_cast<char>(c.encoding));
    s.append(7, '\0');
  }
  for (const auto& [k, v] : sorted) {
    PutU16(&s, static_cast<uint16_t>(k.size()));
    s.append(k);
    PutU32(&s, static_cast<uint32_t>(v.size()));
    s.append(v);
  }
  PutU64(&s, XXH3_64bits(s.data(), s.size()));
  return s;
}

Result<Manifest> Manifest::Decode(ByteSpan b) {
  if (b.size() < kHeaderSize + kTrailerSize) return Status::Corruption("manifest: truncated");
  const uint8_t* p = b.data();
  if (std::memcmp(p, kMagic, 4) != 0) return Status::Corruption("manifest: bad magic");
  size_t body = b.size() - kTrailerSize;
  if (XXH3_64bits(p, body) != GetLE(p + body, 8)) {
    return Status::Corruption("manifest: checksum mismatch");
  }
  uint16_t version = static_cast<uint16_t>(GetLE(p + 4, 2));
  if (version != kVersion) {
    return Status::Corruption("manifest: unsupported version " + std::to_string(version));
  }
  Manifest m;
  uint8_t kind = p[6];
  if (kind < 1 || kind > 4) return Status::Corruption("manifest: bad kind");
  m.kind = static_cast<ArtifactKind>(kind);
  m.created_unix = static_cast<int64_t>(GetLE(p + 8, 8));
  m.total_raw_size = GetLE(p + 16, 8);
  std::memcpy(m.sha256.data(), p + 24, 32);
  uint64_t n = GetLE(p + 56, 4);
  uint64_t nmeta = GetLE(p + 60, 4);
  // Check counts against the bytes actually present before allocating anything.
  if (n > (body - kHeaderSize) / kChunkRecordSize) return Status::Corruption("manifest: bad count");
  if (nmeta > kMaxMeta) return Status::Corruption("manifest: too many meta entries");
  m.chunks.resize(n);
  size_t off = kHeaderSize;
  uint64_t sum = 0;
  for (auto& c : m.chunks) {
    std::memcpy(c.id.bytes.data(), p + off, 16);
    c.raw_size = GetLE(p + off + 16, 8);
    c.stored_size = GetLE(p + off + 24, 8);
    uint8_t enc = p[off + 32];
    if (enc > 1) return Status::Corruption("manifest: bad chunk encoding");
    c.encoding = static_cast<ChunkEncoding>(enc);
    if (c.raw_size > (1ull << 40) || sum + c.raw_size < sum) {
      return Status::Corruption("manifest: bad chunk size");
    }
    sum += c.raw_size;
    off += kChunkRecordSize;
  }
  if (sum != m.total_raw_size) return Status::Corruption("manifest: sizes do not add up");
  for (uint64_t i = 0; i < nmeta; ++i) {
    if (body - off < 2) return Status::Corruption("manifest: truncated meta");
    size_t klen = GetLE(p + off, 2);
    off += 2;
    if (body - off < klen + 4) return Status::Corruption("manifest: truncated meta");
    std::string key(reinterpret_cast<const char*>(p + off), klen);
    off += klen;
    size_t vlen = GetLE(p + off, 4);
    off += 4;
    if (vlen > kMaxMetaValue || body - off < vlen) return Status::Corruption("manifest: bad meta");
    m.meta.emplace_back(std::move(key), std::string(reinterpret_cast<const char*>(p + off), vlen));
    off += vlen;
  }
  if (off != body) return Status::Corruption("manifest: trailing bytes");
  return m;
}

}  // namespace sw
