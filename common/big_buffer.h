// common/big_buffer.h: a grow-only byte buffer for multi-megabyte data (image segments), backed
// by transparent huge pages where the kernel offers them.
//
// Why: first touches of fresh memory are page faults, one per 4 KiB. On the paravirtualised
// guests we build and boot on, a fault costs ~15 us, so filling 120 MB of freshly allocated
// segment buffers cost ~0.45 CPU-s, a third of an image import. The buffer is mapped 2 MiB
// aligned and advised MADV_HUGEPAGE, so a 4 MiB segment costs two faults instead of 1,024
// (measured: 30 x 4 MiB filled in 15-20 ms instead of 450 ms). Without THP (disabled, or
// `never`) it behaves as plain anonymous memory. Below 1 MiB it is ordinary heap memory: a huge
// page zeroed for a few kilobytes (an overlay's segment) made the 10,000-node overlay build take
// 6.2 s instead of 3.5 s (store on tmpfs). Capacity only grows, so a buffer reused for segment
// after segment faults in nothing after the first.
//
// Thread-compatible: one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sw {

class BigBuffer {
 public:
  static constexpr size_t kHugePage = 2u << 20;  // x86-64's transparent huge page

  BigBuffer() = default;
  ~BigBuffer();
  BigBuffer(const BigBuffer&) = delete;
  BigBuffer& operator=(const BigBuffer&) = delete;
  BigBuffer(BigBuffer&& o) noexcept;
  BigBuffer& operator=(BigBuffer&& o) noexcept;

  // Room for at least n bytes, keeping the first size() bytes. False when the memory cannot be
  // had (the buffer is unchanged then).
  bool Reserve(size_t n);
  // Sets the size to n (growing the capacity if needed; new bytes are unspecified).
  bool Resize(size_t n);
  bool Append(std::string_view d);
  void Clear() { size_ = 0; }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

 private:
  void Release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0, cap_ = 0;
};

}  // namespace sw
