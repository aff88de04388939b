#include "common/big_buffer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace sw {
namespace {

constexpr size_t kHuge = BigBuffer::kHugePage;
// Capacities from here on are mapped in huge pages; smaller ones come from the heap.
constexpr size_t kMappedMin = 1u << 20;

size_t RoundUp(size_t n) { return (n + kHuge - 1) / kHuge * kHuge; }

// `bytes` (a multiple of kHuge) of anonymous memory starting on a kHuge boundary, advised to be
// backed by huge pages; nullptr on failure.
uint8_t* MapAligned(size_t bytes) {
  size_t span = bytes + kHuge;
  void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto base = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned = (base + kHuge - 1) & ~(uintptr_t{kHuge} - 1);
  // Give back the unaligned head and the tail beyond `bytes`.
  if (aligned > base) ::munmap(p, aligned - base);
  size_t tail = base + span - (aligned + bytes);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + bytes), tail);
  // Advice only: where THP is off, the memory is ordinary pages.
  ::madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
  return reinterpret_cast<uint8_t*>(aligned);
}

}  // namespace

BigBuffer::~BigBuffer() { Release(); }

BigBuffer::BigBuffer(BigBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      cap_(std::exchange(o.cap_, 0)) {}

BigBuffer& BigBuffer::operator=(BigBuffer&& o) noexcept {
  if (this != &o) {
    Release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    cap_ = std::exchange(o.cap_, 0);
  }
  return *this;
}

void BigBuffer::Release() {
  if (data_ != nullptr) {
    if (cap_ >= kMappedMin) {
      ::munmap(data_, cap_);
    } else {
      std::free(data_);
    }
  }
  data_ = nullptr;
  size_ = cap_ = 0;
}

bool BigBuffer::Reserve(size_t n) {
  if (n <= cap_) return true;
  size_t cap = std::max(n, 2 * cap_);
  uint8_t* p;
  if (cap < kMappedMin) {
    // Small (an overlay's segment): the heap, where a huge page per buffer would cost far more
    // to zero than the bytes it holds.
    p = static_cast<uint8_t*>(std::malloc(cap));
  } else {
    cap = RoundUp(cap);
    p = MapAligned(cap);
  }
  if (p == nullptr) return false;
  if (size_ > 0) std::memcpy(p, data_, size_);
  size_t keep = size_;
  Release();
  data_ = p;
  size_ = keep;
  cap_ = cap;
  return true;
}

bool BigBuffer::Resize(size_t n) {
  if (!Reserve(n)) return false;
  size_ = n;
  return true;
}

bool BigBuffer::Append(std::string_view d) {
  if (d.empty()) return true;
  if (!Reserve(size_ + d.size())) return false;
  std::memcpy(data_ + size_, d.data(), d.size());
  size_ += d.size();
  return true;
}

}  // namespace sw
