#include "uring/ring.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "gtest/gtest.h"

namespace sw {
namespace {

struct Recorder : Completion {
  int res = 0;
  uint32_t flags = 0;
  int calls = 0;
  void OnCqe(int r, uint32_t f) override {
    res = r;
    flags = f;
    ++calls;
  }
};

TEST(RingTest, NopAndMultishotRecvWithProvidedBuffers) {
  auto ring = Ring::Create(64);
  if (!ring.ok()) GTEST_SKIP() << ring.status().ToString();
  Recorder nop;
  io_uring_prep_nop((*ring)->Sqe(&nop));
  while (nop.calls == 0) (*ring)->RunOnce(1000);
  EXPECT_EQ(nop.res, 0);

  auto bufs = BufferRing::Create(ring->get(), 1, 8, 4096);
  if (!bufs.ok()) GTEST_SKIP() << bufs.status().ToString();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  struct Recv : Completion {
    BufferRing* b;
    std::string got;
    int ends = 0;
    bool more = true;
    void OnCqe(int r, uint32_t f) override {
      if (r > 0) {
        unsigned id = f >> IORING_CQE_BUFFER_SHIFT;
        got.append(b->Buffer(id), static_cast<size_t>(r));
        b->Recycle(id);
      }
      if (!(f & IORING_CQE_F_MORE)) more = false;
      if (r == 0) ++ends;
    }
  } recv;
  recv.b = bufs->get();
  io_uring_sqe* sqe = (*ring)->Sqe(&recv);
  io_uring_prep_recv_multishot(sqe, sv[0], nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = 1;
  for (int i = 0; i < 20; ++i) {  // more messages than buffers: recycling must work
    std::string msg = "message " + std::to_string(i) + ";";
    ASSERT_EQ(write(sv[1], msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
    (*ring)->RunOnce(100);
  }
  close(sv[1]);
  for (int i = 0; i < 50 && recv.more; ++i) (*ring)->RunOnce(100);
  EXPECT_NE(recv.got.find("message 19;"), std::string::npos);
  EXPECT_EQ(recv.got.find("message 0;"), 0u);
  EXPECT_FALSE(recv.more);  // EOF ends the multishot
  close(sv[0]);
}

}  // namespace
}  // namespace sw
