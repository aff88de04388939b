#include "uring/ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace sw {

Result<std::unique_ptr<Ring>> Ring::Create(unsigned entries) {
  std::unique_ptr<Ring> r(new Ring());
  struct Try {
    unsigned flags;
    const char* name;
  };
  // DEFER_TASKRUN runs task work only when this thread waits, which is exactly our loop's shape;
  // SINGLE_ISSUER lets the kernel skip locking. COOP_TASKRUN is the pre-6.1 fallback.
  const Try tries[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE,
       "single-issuer+defer-taskrun"},
      {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE, "coop-taskrun"},
      {IORING_SETUP_CQSIZE, "plain"},
  };
  int last = 0;
  for (const auto& t : tries) {
    io_uring_params p{};
    p.flags = t.flags;
    p.cq_entries = entries * 8;
    last = io_uring_queue_init_params(entries, &r->ring_, &p);
    if (last == 0) {
      r->mode_ = t.name;
      return r;
    }
    if (last != -EINVAL) break;
  }
  std::string why = std::strerror(-last);
  if (last == -EPERM || last == -ENOSYS) {
    why += " (io_uring is disabled or unavailable: check /proc/sys/kernel/io_uring_disabled and "
           "seccomp; Linux 5.19 or later is required)";
  }
  return Status::Unavailable("io_uring_queue_init: " + why);
}

Ring::~Ring() { io_uring_queue_exit(&ring_); }

io_uring_sqe* Ring::Sqe(Completion* c) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  io_uring_sqe_set_data(sqe, c);
  return sqe;
}

unsigned Ring::RunOnce(int timeout_ms) {
  __kernel_timespec ts{};
  ts.tv_sec = timeout_ms / 1000;
  ts.tv_nsec = (timeout_ms % 1000) * 1000000ll;
  io_uring_cqe* cqe = nullptr;
  int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) return 0;
  unsigned n = 0;
  unsigned head;
  // Reap in one batch, advance once (liburing examples/proxy.c).
  io_uring_for_each_cqe(&ring_, head, cqe) {
    auto* c = static_cast<Completion*>(io_uring_cqe_get_data(cqe));
    if (c != nullptr) c->OnCqe(cqe->res, cqe->flags);
    ++n;
  }
  io_uring_cq_advance(&ring_, n);
  return n;
}

Result<std::unique_ptr<BufferRing>> BufferRing::Create(Ring* ring, uint16_t group, unsigned count,
                                                       unsigned size) {
  std::unique_ptr<BufferRing> b(new BufferRing());
  b->ring_ = ring;
  b->count_ = count;
  b->size_ = size;
  b->group_ = group;
  b->map_size_ = count * sizeof(io_uring_buf) + static_cast<size_t>(count) * size;
  void* mem = mmap(nullptr, b->map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                   0);
  if (mem == MAP_FAILED) return FromErrno("mmap buffer ring", errno);
  b->br_ = static_cast<io_uring_buf_ring*>(mem);
  b->base_ = static_cast<char*>(mem) + count * sizeof(io_uring_buf);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(b->br_);
  reg.ring_entries = count;
  reg.bgid = group;
  int rc = io_uring_register_buf_ring(ring->raw(), &reg, 0);
  if (rc != 0) {
    munmap(mem, b->map_size_);
    b->br_ = nullptr;
    return Status::Unavailable(std::string("io_uring_register_buf_ring: ") + std::strerror(-rc));
  }
  io_uring_buf_ring_init(b->br_);
  int mask = io_uring_buf_ring_mask(count);
  for (unsigned i = 0; i < count; ++i) {
    io_uring_buf_ring_add(b->br_, b->Buffer(i), size, static_cast<unsigned short>(i), mask,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(b->br_, static_cast<int>(count));
  return b;
}

BufferRing::~BufferRing() {
  if (br_ != nullptr) {
    io_uring_unregister_buf_ring(ring_->raw(), group_);
    munmap(br_, map_size_);
  }
}

void BufferRing::Recycle(unsigned id) {
  io_uring_buf_ring_add(br_, Buffer(id), size_, static_cast<unsigned short>(id),
                        io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(br_, 1);
}

}  // namespace sw
