#include "chunkstore/codec.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <zstd.h>

#include <cstring>

#include "common/big_buffer.h"
#include "common/log.h"

namespace sw {
namespace {

constexpr uint8_t kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};
// The Linux initramfs zstd decompressor (lib/decompress_unzstd.c) accepts frames whose window is
// at most ZSTD_WINDOWSIZE_MAX = 128 MiB (window log 27) when it cannot use single-pass mode. We
// stay far below: window log 23 (8 MiB), which also bounds the memory a node needs to unpack.
constexpr int kMaxWindowLog = 23;

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// One compression context per thread, reused across chunks (allocating one costs more than
// compressing a small segment).
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx());
  CHECK(ctx != nullptr) << "out of memory";
  return ctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx(ZSTD_createDCtx());
  CHECK(ctx != nullptr) << "out of memory";
  return ctx.get();
}

}  // namespace

std::string ZstdCompress(ByteSpan raw, int level) {
  ByteSpan z = ZstdCompressScratch(raw, level);
  return std::string(reinterpret_cast<const char*>(z.data()), z.size());
}

ByteSpan ZstdCompressScratch(ByteSpan raw, int level) {
  // Grows only, in huge pages, never zero-filled: see BigBuffer.
  thread_local BigBuffer out;
  ZSTD_CCtx* c = ThreadCCtx();
  ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0);  // ids already cover the content
  // Levels up to 19 use a window log of at most 23; only the "ultra" levels above need the cap.
  // Small inputs get a small window by themselves because the content size is pledged.
  if (level > 19) {
    ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, kMaxWindowLog);
  }
  ZSTD_CCtx_setPledgedSrcSize(c, raw.size());
  CHECK(out.Reserve(ZSTD_compressBound(raw.size()))) << "no memory for zstd output";
  size_t n = ZSTD_compress2(c, out.data(), out.capacity(), raw.data(), raw.size());
  CHECK(!ZSTD_isError(n)) << "zstd compress: " << ZSTD_getErrorName(n);
  return ByteSpan(out.data(), n);
}

namespace {
// The content size of a stored zstd chunk: exactly one frame that declares its size, which must be
// expected_size unless that is UINT64_MAX.
Result<uint64_t> CheckedFrameContentSize(ByteSpan frame, uint64_t expected_size) {
  if (frame.size() < 4 || std::memcmp(frame.data(), kZstdMagic, 4) != 0) {
    return Status::Corruption("not a zstd frame");
  }
  size_t frame_len = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_len) || frame_len != frame.size()) {
    return Status::Corruption("not exactly one zstd frame");
  }
  unsigned long long content = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Status::Corruption("zstd frame without a content size");
  }
  if (expected_size != UINT64_MAX && content != expected_size) {
    return Status::Corruption("zstd frame content size " + std::to_string(content) +
                              " != expected " + std::to_string(expected_size));
  }
  if (content > (1ull << 34)) {
    return Status::Corruption("zstd frame content size is absurd");
  }
  return static_cast<uint64_t>(content);
}

Status DecompressFrame(ByteSpan frame, MutableByteSpan out) {
  size_t n = ZSTD_decompressDCtx(ThreadDCtx(), out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != out.size()) {
    return Status::Corruption(std::string("zstd decompress: ") +
                              (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output"));
  }
  return Status::OK();
}
}  // namespace

Result<std::string> ZstdDecompress(ByteSpan frame, uint64_t expected_size) {
  SW_ASSIGN_OR_RETURN(uint64_t content, CheckedFrameContentSize(frame, expected_size));
  std::string out(content, '\0');
  SW_RETURN_IF_ERROR(
      DecompressFrame(frame, MutableByteSpan(reinterpret_cast<uint8_t*>(out.data()), out.size())));
  return out;
}

ChunkEncoding DetectEncoding(ByteSpan stored) {
  return stored.size() >= 4 && std::memcmp(stored.data(), kZstdMagic, 4) == 0
             ? ChunkEncoding::kZstd
             : ChunkEncoding::kRaw;
}

EncodedChunk EncodeChunk(ByteSpan raw, int level, bool allow_raw) {
  std::string z = ZstdCompress(raw, level);
  bool starts_like_zstd = DetectEncoding(raw) == ChunkEncoding::kZstd;
  // "Saves under 3%": z.size() > 0.97 * raw.size().
  if (allow_raw && !starts_like_zstd && z.size() * 100 > raw.size() * 97) {
    return EncodedChunk{std::string(reinterpret_cast<const char*>(raw.data()), raw.size()),
                        ChunkEncoding::kRaw};
  }
  return EncodedChunk{std::move(z), ChunkEncoding::kZstd};
}

Result<std::string> DecodeChunk(ByteSpan stored, uint64_t expected_raw_size) {
  if (DetectEncoding(stored) == ChunkEncoding::kZstd) {
    return ZstdDecompress(stored, expected_raw_size);
  }
  if (expected_raw_size != UINT64_MAX && stored.size() != expected_raw_size) {
    return Status::Corruption("raw chunk size " + std::to_string(stored.size()) + " != expected " +
                              std::to_string(expected_raw_size));
  }
  return std::string(reinterpret_cast<const char*>(stored.data()), stored.size());
}

Status DecodeChunkInto(ByteSpan stored, MutableByteSpan out) {
  if (DetectEncoding(stored) == ChunkEncoding::kZstd) {
    SW_RETURN_IF_ERROR(CheckedFrameContentSize(stored, out.size()).status());
    return DecompressFrame(stored, out);
  }
  if (stored.size() != out.size()) {
    return Status::Corruption("raw chunk size " + std::to_string(stored.size()) + " != expected " +
                              std::to_string(out.size()));
  }
  if (!out.empty()) std::memcpy(out.data(), stored.data(), out.size());
  return Status::OK();
}

std::string OpenSslErrors(const char* fallback) {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? fallback : out;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  CHECK(ctx_ != nullptr) << "out of memory";
  CHECK(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) == 1);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256::Update(ByteSpan data) {
  CHECK(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) == 1);
}
void Sha256::CopyStateFrom(const Sha256& other) {
  CHECK(EVP_MD_CTX_copy_ex(static_cast<EVP_MD_CTX*>(ctx_),
                           static_cast<const EVP_MD_CTX*>(other.ctx_)) == 1);
}
std::array<uint8_t, 32> Sha256::Finish() {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  CHECK(EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &len) == 1 && len == 32);
  return out;
}
std::array<uint8_t, 32> Sha256Of(ByteSpan data) {
  Sha256 h;
  h.Update(data);
  return h.Finish();
}

}  // namespace sw
