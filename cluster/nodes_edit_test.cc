#include "cluster/nodes_edit.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs_util.h"
#include "gtest/gtest.h"

namespace sw {
namespace {

constexpr char kWarewulfConf[] = R"(nodeprofiles:
  default:
    image name: rocky9
    kernel:
      args: [quiet]
    disks:
      /dev/vda:
        wipe_table: true
nodes:
  n1:
    profiles: [default]
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:01", ipaddr: 10.0.0.1}
    resources: {fstab: [{spec: "warewulf:/home", file: /home}]}
)";

TEST(NodesConfTest, EditsKeepUnmodelledFieldsAndValidate) {
  auto c = NodesConf::Parse(kWarewulfConf, "t");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->Add(EntityKind::kNode, "n2").ok());
  EXPECT_TRUE(c->Add(EntityKind::kNode, "n2").IsAlreadyExists());
  ASSERT_TRUE(c->SetList(EntityKind::kNode, "n2", {"profiles"}, {"default"}).ok());
  ASSERT_TRUE(c->SetScalar(EntityKind::kNode, "n2", {"network devices", "default", "hwaddr"},
                           "AA-BB-CC-DD-EE-02").ok());
  ASSERT_TRUE(c->SetScalar(EntityKind::kNode, "n2", {"network devices", "default", "ipaddr"},
                           "10.0.0.2").ok());
  ASSERT_TRUE(c->SetScalar(EntityKind::kNode, "n2", {"kernel", "version"}, "lts").ok());
  ASSERT_TRUE(c->SetScalar(EntityKind::kNode, "n2", {"tags", "rack"}, "r1").ok());
  auto db = c->Validate();
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  const Node* n2 = (*db)->Find("n2");
  ASSERT_NE(n2, nullptr);
  EXPECT_EQ(n2->image_name, "rocky9");
  EXPECT_EQ(n2->kernel_version, "lts");
  EXPECT_EQ(n2->netdevs.at("default").hwaddr, "aa:bb:cc:dd:ee:02");
  EXPECT_EQ(n2->tags.at("rack"), "r1");
  EXPECT_EQ(n2->KernelArgsJoined(), "quiet");
  // Fields we do not model survive the round trip.
  std::string text = c->Emit();
  EXPECT_NE(text.find("wipe_table: true"), std::string::npos) << text;
  EXPECT_NE(text.find("warewulf:/home"), std::string::npos) << text;
  // UNSET removes; the re-parsed text is the same configuration.
  ASSERT_TRUE(c->SetScalar(EntityKind::kNode, "n2", {"tags", "rack"}, "UNSET").ok());
  auto again = NodesConf::Parse(c->Emit(), "t2");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again->Validate())->Find("n2")->tags.count("rack"), 0u);
  EXPECT_EQ(again->Names(EntityKind::kNode), (std::vector<std::string>{"n1", "n2"}));
}

TEST(NodesConfTest, DuplicatesAndUnknownProfilesAreRejected) {
  auto c = NodesConf::Parse(kWarewulfConf, "t");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->Add(EntityKind::kNode, "n2").ok());
  ASSERT_TRUE(c->SetScalar(EntityKind::kNode, "n2", {"network devices", "eth1", "hwaddr"},
                           "aa:bb:cc:dd:ee:01").ok());
  auto v = c->Validate();
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().ToString().find("hwaddr aa:bb:cc:dd:ee:01 is used by both 'n1' and 'n2'"),
            std::string::npos) << v.status().ToString();
  ASSERT_TRUE(c->SetScalar(EntityKind::kNode, "n2", {"network devices", "eth1", "hwaddr"},
                           "aa:bb:cc:dd:ee:09").ok());
  ASSERT_TRUE(c->SetScalar(EntityKind::kNode, "n2", {"network devices", "eth1", "ipaddr"},
                           "10.0.0.1").ok());
  EXPECT_FALSE(c->Validate().ok());
  ASSERT_TRUE(c->SetScalar(EntityKind::kNode, "n2", {"network devices", "eth1", "ipaddr"},
                           "10.0.0.9").ok());
  ASSERT_TRUE(c->SetList(EntityKind::kNode, "n2", {"profiles"}, {"nope"}).ok());
  v = c->Validate();
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().ToString().find("unknown profile 'nope'"), std::string::npos);
  EXPECT_TRUE(c->Delete(EntityKind::kProfile, "nope").IsNotFound());
  EXPECT_TRUE(c->Add(EntityKind::kNode, "bad name").IsInvalidArgument());
}

TEST(NodesConfTest, SaveIsAtomicAndKeepsTheMode) {
  std::string dir = ::testing::TempDir() + "/nodes_edit_" + RandomHex(6);
  ASSERT_TRUE(MakeDirs(dir).ok());
  std::string path = dir + "/nodes.conf";
  ASSERT_TRUE(WriteFileAtomic(path, kWarewulfConf, 0600, dir).ok());
  auto c = NodesConf::Load(path);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->Add(EntityKind::kProfile, "gpu").ok());
  ASSERT_TRUE(SaveNodesConf(path, c->Emit()).ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto back = NodesConf::Load(path);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->Has(EntityKind::kProfile, "gpu"));
  // A missing file is an empty configuration.
  auto empty = NodesConf::Load(dir + "/none.conf");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->Names(EntityKind::kNode).empty());
  ASSERT_TRUE(RemoveTree(dir).ok());
}

// Two processes editing at once: with the lock, neither edit is lost.
TEST(NodesConfTest, ConcurrentEditsUnderTheLockAreAllKept) {
  std::string dir = ::testing::TempDir() + "/nodes_lock_" + RandomHex(6);
  ASSERT_TRUE(MakeDirs(dir).ok());
  std::string path = dir + "/nodes.conf";
  ASSERT_TRUE(WriteFileAtomic(path, "nodes: {}\n", 0644, dir).ok());
  constexpr int kProcs = 4, kEach = 10;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0; i < kEach; ++i) {
        auto lock = NodesConfLock::Acquire(path);
        auto c = NodesConf::Load(path);
        if (!lock.ok() || !c.ok()) _exit(1);
        if (!c->Add(EntityKind::kNode, "p" + std::to_string(p) + "n" + std::to_string(i)).ok()) _exit(2);
        if (!SaveNodesConf(path, c->Emit()).ok()) _exit(3);
      }
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int st = 0;
    waitpid(k, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  auto c = NodesConf::Load(path);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Names(EntityKind::kNode).size(), static_cast<size_t>(kProcs * kEach));
  ASSERT_TRUE(RemoveTree(dir).ok());
}

}  // namespace
}  // namespace sw
