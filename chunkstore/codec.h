// chunkstore/codec.h: chunk encodings (zstd frames or raw) and SHA-256.
//
// Every compressed chunk is exactly one standard zstd frame with the content size in its header
// and a window the Linux initramfs decompressor accepts (window log <= 23 at every level we use;
// never a skippable frame). Thread-safety: free functions, safe from any thread; Sha256 objects
// are not shared.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "chunkstore/manifest.h"
#include "common/fd.h"
#include "common/status.h"

namespace sw {

inline constexpr int kDefaultZstdLevel = 3;
inline constexpr int kOptimizeZstdLevel = 19;

// Compresses raw into one zstd frame at `level`.
std::string ZstdCompress(ByteSpan raw, int level);
// The same frame, written to a buffer of the calling thread's that later calls reuse (no
// allocation, no zero-filling, no page faults per call): the span is valid until this thread's
// next call.
ByteSpan ZstdCompressScratch(ByteSpan raw, int level);
// Decompresses one zstd frame. Corruption if it is not exactly one valid frame whose content size
// equals expected_size (pass UINT64_MAX to accept any size).
Result<std::string> ZstdDecompress(ByteSpan frame, uint64_t expected_size = UINT64_MAX);

struct EncodedChunk {
  std::string stored;
  ChunkEncoding encoding;
};
// Encodes a chunk for the store. With allow_raw, keeps it raw when zstd saves under 3% (e.g. a
// kernel) unless the raw bytes start with the zstd magic; otherwise always zstd.
EncodedChunk EncodeChunk(ByteSpan raw, int level, bool allow_raw);
// Encoding of stored bytes, from their first four bytes.
ChunkEncoding DetectEncoding(ByteSpan stored);
// Stored bytes back to raw bytes; Corruption on bad data.
Result<std::string> DecodeChunk(ByteSpan stored, uint64_t expected_raw_size = UINT64_MAX);
// The same into a caller's buffer (reused across calls: no allocation, no zero-filling): `out`
// is exactly the expected raw size; Corruption unless the stored bytes decode to that many.
Status DecodeChunkInto(ByteSpan stored, MutableByteSpan out);

// OpenSSL's queued errors as one line ("" joined by "; "), clearing the queue; `fallback` when
// the queue is empty. Shared by the TLS code of stormwulfd and wwclient.
std::string OpenSslErrors(const char* fallback = "unknown OpenSSL error");

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(ByteSpan data);
  // Makes this hash continue from `other`'s state (the bytes `other` has seen so far).
  void CopyStateFrom(const Sha256& other);
  std::array<uint8_t, 32> Finish();

 private:
  void* ctx_;  // EVP_MD_CTX*
};
std::array<uint8_t, 32> Sha256Of(ByteSpan data);

}  // namespace sw
