// Tests for server/artifacts.h: the shared, bounded open-file cache and ref resolution through it.
#include "server/artifacts.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "chunkstore/image_build.h"
#include "common/fs_util.h"
#include "gtest/gtest.h"

namespace sw {
namespace {

// Open fds of this process whose target starts with prefix.
size_t FdsUnder(const std::string& prefix) {
  // TempDir() ends in '/', so paths built from it may hold "//"; the kernel's never do.
  std::string want = std::filesystem::path(prefix).lexically_normal().string();
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && target.string().rfind(want, 0) == 0) ++n;
  }
  return n;
}

class ArtifactsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/artifacts_" + RandomHex(6);
    ASSERT_TRUE(MakeDirs(dir_, 0755).ok());
    auto s = Store::Open(dir_ + "/store", StoreOptions{.create = true});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // An overlay-sized artifact holding one file with `text`, under refs/<ref>.
  ChunkId Put(const std::string& ref, const std::string& text) {
    TreeEntry e;
    e.path = "etc/hostname";
    e.mode = 0100644;
    e.size = text.size();
    e.content = std::make_shared<const std::string>(text);
    auto r = BuildArtifact(store_.get(), {e}, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(store_->SetRef(ref, r->manifest_id).ok());
    return r->manifest_id;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(ArtifactsTest, FileCacheSharesOneFdAndBoundsTheIdleOnes) {
  std::vector<std::string> paths;
  for (int i = 0; i < 6; ++i) {
    paths.push_back(dir_ + "/f" + std::to_string(i));
    ASSERT_TRUE(WriteFileAtomic(paths.back(), std::string(i + 1, 'x'), 0644).ok());
  }
  FileCache cache(2);
  auto a = cache.Open(paths[0]);
  auto b = cache.Open(paths[0]);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get()) << "one open file per path";
  EXPECT_EQ((*a)->size, 1u);
  // Held by the caller: stays open (and shared) after five other files push it out of the LRU.
  for (int i = 1; i < 6; ++i) ASSERT_TRUE(cache.Open(paths[i]).ok());
  EXPECT_EQ(cache.Open(paths[0])->get(), a->get());
  // Idle files beyond the capacity are closed: the two most recent plus the held one remain.
  a = Status::NotFound("dropped");
  b = Status::NotFound("dropped");
  for (int i = 3; i < 6; ++i) ASSERT_TRUE(cache.Open(paths[i]).ok());
  EXPECT_EQ(FdsUnder(dir_ + "/f"), 2u);
  EXPECT_EQ(cache.open_count(), 2u);
  auto missing = cache.Open(dir_ + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
}

TEST_F(ArtifactsTest, FileCacheKeepsSmallFilesInMemoryWithinItsBudget) {
  std::string small_a(3000, 'a'), small_b(3000, 'b'), big(5000, 'c');
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/sa", small_a, 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/sb", small_b, 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/big", big, 0644).ok());
  FileCache cache(8, /*small_max=*/4096, /*small_budget=*/4000);
  auto a = cache.Open(dir_ + "/sa");
  auto b = cache.Open(dir_ + "/sb");
  auto c = cache.Open(dir_ + "/big");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(cache.small_bytes(), 0u) << "not read on open";
  EXPECT_EQ((*a)->Contents(), nullptr) << "a file used once is read from the file";
  EXPECT_EQ(cache.small_bytes(), 0u);
  const std::string* ma = (*a)->Contents();
  ASSERT_NE(ma, nullptr);
  EXPECT_EQ(*ma, small_a);
  EXPECT_EQ((*a)->Contents(), ma) << "read once";
  EXPECT_EQ(cache.small_bytes(), 3000u);
  (*b)->Contents();
  EXPECT_EQ((*b)->Contents(), nullptr) << "3000 more bytes would pass the 4000-byte budget";
  (*c)->Contents();
  EXPECT_EQ((*c)->Contents(), nullptr) << "over small_max";
  auto plain = OpenShared(dir_ + "/sa");
  (*plain)->Contents();
  EXPECT_EQ((*plain)->Contents(), nullptr) << "no cache, no budget";
  // Files leaving the cache give their bytes back: then another small file fits.
  int flushes = 0;
  auto flush = [&] {  // pushes every earlier file out of the 8-file LRU
    for (int i = 0; i < 9; ++i) {
      std::string p = dir_ + "/x" + std::to_string(flushes) + "_" + std::to_string(i);
      ASSERT_TRUE(WriteFileAtomic(p, "x", 0644).ok());
      ASSERT_TRUE(cache.Open(p).ok());
    }
    ++flushes;
  };
  a = Status::NotFound("dropped");
  flush();
  EXPECT_EQ(cache.small_bytes(), 0u);
  auto b2 = cache.Open(dir_ + "/sb");
  ASSERT_TRUE(b2.ok());
  EXPECT_EQ((*b2)->Contents(), nullptr) << "this SharedFile already decided (b holds it)";
  b = Status::NotFound("dropped");
  b2 = Status::NotFound("dropped");
  flush();
  auto b3 = cache.Open(dir_ + "/sb");
  ASSERT_TRUE(b3.ok());
  (*b3)->Contents();
  ASSERT_NE((*b3)->Contents(), nullptr) << "a fresh open of the file, with room in the budget";
  EXPECT_EQ(*(*b3)->Contents(), small_b);
}

TEST_F(ArtifactsTest, ResolvedArtifactsDoNotPinTheirFiles) {
  // 40 nodes' overlays: the cache keeps them all resolved but at most 4 chunk files open.
  FileCache files(4);
  ArtifactCache arts(store_.get(), &files);
  std::vector<std::shared_ptr<const OpenArtifact>> held;
  for (int i = 0; i < 40; ++i) {
    std::string ref = "overlays/n" + std::to_string(i) + "/system";
    Put(ref, "node-" + std::to_string(i) + "\n");
    auto a = arts.Get(ref);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    held.push_back(*a);
  }
  EXPECT_LE(FdsUnder(dir_ + "/store/chunks"), 4u);
  // A response opens its files on demand, and they are the stored chunks.
  auto f = arts.StoredFiles(*held[7]);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->size(), held[7]->manifest.chunks.size());
  EXPECT_EQ((*f)[0]->size, held[7]->manifest.chunks[0].stored_size);
  // gc removed a chunk: NotFound, which stormwulfd answers with 503 and Retry-After.
  ASSERT_EQ(::unlink(held[8]->stored_paths[0].c_str()), 0);
  auto gone = arts.StoredFiles(*held[8]);
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(gone.status().IsNotFound()) << gone.status().ToString();
}

TEST_F(ArtifactsTest, MemoFollowsTheRefWithinASecond) {
  FileCache files(16);
  ArtifactCache arts(store_.get(), &files);
  ArtifactMemo memo;
  ChunkId v1 = Put("overlays/n1/runtime", "one\n");
  auto a = arts.Get("overlays/n1/runtime", &memo);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->manifest_id, v1);
  // Served from the memo while fresh, the same object as the cache's.
  EXPECT_EQ(arts.Get("overlays/n1/runtime", &memo)->get(), a->get());
  EXPECT_EQ(arts.Get("overlays/n1/runtime")->get(), a->get());
  ChunkId v2 = Put("overlays/n1/runtime", "two\n");
  ASSERT_NE(v1, v2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto b = arts.Get("overlays/n1/runtime", &memo);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)->manifest_id, v2);
  ASSERT_TRUE(store_->DeleteRef("overlays/n1/runtime").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto c = arts.Get("overlays/n1/runtime", &memo);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsNotFound()) << c.status().ToString();
}

TEST_F(ArtifactsTest, UnchangedRefsGenerationKeepsRefsCachedPastASecond) {
  FileCache files(16);
  ArtifactCache arts(store_.get(), &files);
  ChunkId v1 = Put("overlays/n1/runtime", "one\n");
  ChunkId v2 = Put("overlays/n2/runtime", "two\n");
  ASSERT_EQ((*arts.Get("overlays/n1/runtime"))->manifest_id, v1);
  // Let the cache tag the entry with the current generation (it reads the counter once a
  // second), then change the ref file behind Store's back: no generation move.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_EQ((*arts.Get("overlays/n1/runtime"))->manifest_id, v1);
  ASSERT_TRUE(WriteFileAtomic(store_->RefPath("overlays/n1/runtime"), v2.Hex() + "\n", 0644).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ((*arts.Get("overlays/n1/runtime"))->manifest_id, v1)
      << "the generation did not move: the ref is not read again";
  // Any ref change through Store moves it, and the ref is read again within a second.
  Put("overlays/n3/runtime", "three\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ((*arts.Get("overlays/n1/runtime"))->manifest_id, v2);
}

}  // namespace
}  // namespace sw
