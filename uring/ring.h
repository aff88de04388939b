// uring/ring.h: one io_uring per thread, shared by the server and (later) the agent.
//
// Every SQE's user_data is a Completion* whose OnCqe() runs when the CQE is reaped; completion
// objects are embedded in their owners, so no operation allocates (shared/STYLE.md 7.3). The
// ring is created with SINGLE_ISSUER|DEFER_TASKRUN where the kernel has them, falling back to
// COOP_TASKRUN and then to no flags; a kernel without usable io_uring yields Unavailable with the
// reason. BufferRing is a provided-buffer ring for multishot recv: the kernel picks a buffer per
// CQE, the owner copies what it needs and recycles the buffer at once.
// Thread-safety: a Ring and its BufferRing belong to the thread that created them.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace sw {

struct Completion {
  virtual void OnCqe(int res, uint32_t flags) = 0;

 protected:
  ~Completion() = default;
};

class Ring {
 public:
  // entries: SQ size; the CQ is sized 8x for multishot bursts.
  static Result<std::unique_ptr<Ring>> Create(unsigned entries);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // An SQE, submitting pending ones first if the SQ is full. Never null.
  io_uring_sqe* Sqe(Completion* c);
  // Submits and waits for at least one CQE or the timeout; then runs every available CQE's
  // OnCqe in one batch. Returns the number reaped.
  unsigned RunOnce(int timeout_ms);
  io_uring* raw() { return &ring_; }
  const std::string& mode() const { return mode_; }

 private:
  Ring() = default;
  io_uring ring_{};
  std::string mode_;
};

class BufferRing {
 public:
  // count must be a power of two.
  static Result<std::unique_ptr<BufferRing>> Create(Ring* ring, uint16_t group, unsigned count,
                                                    unsigned size);
  ~BufferRing();
  uint16_t group() const { return group_; }
  // The buffer a CQE selected (flags >> IORING_CQE_BUFFER_SHIFT).
  char* Buffer(unsigned id) { return base_ + static_cast<size_t>(id) * size_; }
  // Hands buffer `id` back to the kernel.
  void Recycle(unsigned id);

 private:
  BufferRing() = default;
  Ring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  char* base_ = nullptr;
  unsigned count_ = 0;
  unsigned size_ = 0;
  uint16_t group_ = 0;
  size_t map_size_ = 0;
};

}  // namespace sw
