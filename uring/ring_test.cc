#include "uring/ring.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

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

// A receiver that holds its buffers runs the ring dry: the multishot recv ends with -ENOBUFS
// (no F_MORE); once the buffers are recycled, a re-armed recv gets the bytes still queued
// (STYLE 7.8.5: receive -> use -> recycle, re-arm on !F_MORE and after -ENOBUFS).
TEST(RingTest, EnobufsThenRecycleAndRearm) {
  auto ring = Ring::Create(64);
  if (!ring.ok()) GTEST_SKIP() << ring.status().ToString();
  auto bufs = BufferRing::Create(ring->get(), 2, 2, 16);
  if (!bufs.ok()) GTEST_SKIP() << bufs.status().ToString();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  struct Holder : Completion {
    BufferRing* b;
    std::string got;
    std::vector<unsigned> held;
    bool armed = false;
    int enobufs = 0;
    void OnCqe(int r, uint32_t f) override {
      if (r > 0) {
        unsigned id = f >> IORING_CQE_BUFFER_SHIFT;
        got.append(b->Buffer(id), static_cast<size_t>(r));
        held.push_back(id);  // not recycled yet
      } else if (r == -ENOBUFS) {
        ++enobufs;
      }
      if (!(f & IORING_CQE_F_MORE)) armed = false;
    }
  } h;
  h.b = bufs->get();
  auto arm = [&] {
    io_uring_sqe* sqe = (*ring)->Sqe(&h);
    io_uring_prep_recv_multishot(sqe, sv[0], nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 2;
    h.armed = true;
  };
  arm();
  std::string sent;
  for (int i = 0; i < 4; ++i) {
    std::string msg = "chunk-" + std::to_string(i) + "-0123456789";  // > 16 bytes
    sent += msg;
    ASSERT_EQ(write(sv[1], msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
    for (int k = 0; k < 5; ++k) (*ring)->RunOnce(20);
  }
  for (int i = 0; i < 50 && h.armed; ++i) (*ring)->RunOnce(20);
  EXPECT_FALSE(h.armed);
  EXPECT_GE(h.enobufs, 1);
  EXPECT_EQ(h.held.size(), 2u);  // both buffers in use, at most 2 x 16 bytes received
  EXPECT_LE(h.got.size(), 32u);
  EXPECT_EQ(h.got, sent.substr(0, h.got.size()));
  for (int round = 0; round < 20 && h.got.size() < sent.size(); ++round) {
    for (unsigned id : h.held) (*bufs)->Recycle(id);
    h.held.clear();
    if (!h.armed) arm();
    for (int k = 0; k < 5; ++k) (*ring)->RunOnce(20);
  }
  EXPECT_EQ(h.got, sent);
  close(sv[1]);
  close(sv[0]);
  for (int i = 0; i < 50 && h.armed; ++i) (*ring)->RunOnce(20);
}

}  // namespace
}  // namespace sw
