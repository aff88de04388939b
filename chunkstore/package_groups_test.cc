#include "chunkstore/package_groups.h"

#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>

#include "chunkstore/tree_test_util.h"
#include "gtest/gtest.h"

namespace sw {
namespace {

using tree_test::File;
using tree_test::Symlink;
std::map<std::string, uint32_t> Groups(const std::vector<TreeEntry>& t) {
  std::map<std::string, uint32_t> g;
  for (const auto& e : t) g[e.path] = e.group;
  return g;
}

TEST(PackageGroupsTest, TreeWithoutPackageDatabaseIsLeftAlone) {
  std::vector<TreeEntry> t = {File("etc/hostname"), File("usr/bin/ls"),
                              File("var/lib/dpkg/status")};
  t[1].group = 7;  // a caller's own grouping stays
  auto n = AssignPackageGroups(&t);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(t[1].group, 7u);
}

// Packages are numbered by name; their control files go with them even when the name has a
// dot; paths listed through a top-level symlink (usr-merge) are found; a path two packages list
// goes to the first by name; unlisted files and other dpkg files belong to no package.
TEST(PackageGroupsTest, DpkgListsGiveEachPackageItsFiles) {
  std::vector<TreeEntry> t = {
      Symlink("bin", "usr/bin"),
      Symlink("sbin", "/usr/sbin/"),
      File("etc/hostname"),
      File("etc/less/lesskey"),
      File("usr/bin/less"),
      File("usr/bin/python3"),
      File("usr/bin/python3.11"),
      File("usr/sbin/ip"),
      File("usr/share/doc/less/copyright"),
      File("var/lib/dpkg/info/less.list",
           "/.\n/bin\n/bin/less\n/etc/less/lesskey\n/usr/share/doc/less\n"
           "/usr/share/doc/less/copyright\n"),
      File("var/lib/dpkg/info/less.md5sums"),
      File("var/lib/dpkg/info/python3.list", "/usr/bin/python3\n/usr/bin/less\n"),
      File("var/lib/dpkg/info/python3.postinst"),
      File("var/lib/dpkg/info/python3.11.list", "/usr/bin/python3.11\n"),
      File("var/lib/dpkg/info/python3.11.md5sums"),
      File("var/lib/dpkg/info/iproute2:amd64.list", "/sbin/ip\n"),
      File("var/lib/dpkg/info/iproute2:amd64.conffiles"),
      File("var/lib/dpkg/info/format"),
      File("var/lib/dpkg/info/orphan.md5sums"),
      File("var/lib/dpkg/status"),
  };
  auto n = AssignPackageGroups(&t);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 4u);
  // iproute2:amd64 = 1, less = 2, python3 = 3, python3.11 = 4
  std::map<std::string, uint32_t> want = {
      {"bin", 2},  // less lists "/bin" (dpkg lists directories; here it is a symlink)
      {"sbin", 0},
      {"etc/hostname", 0},
      {"etc/less/lesskey", 2},
      {"usr/bin/less", 2},
      {"usr/bin/python3", 3},
      {"usr/bin/python3.11", 4},
      {"usr/sbin/ip", 1},
      {"usr/share/doc/less/copyright", 2},
      {"var/lib/dpkg/info/less.list", 2},
      {"var/lib/dpkg/info/less.md5sums", 2},
      {"var/lib/dpkg/info/python3.list", 3},
      {"var/lib/dpkg/info/python3.postinst", 3},
      {"var/lib/dpkg/info/python3.11.list", 4},
      {"var/lib/dpkg/info/python3.11.md5sums", 4},
      {"var/lib/dpkg/info/iproute2:amd64.list", 1},
      {"var/lib/dpkg/info/iproute2:amd64.conffiles", 1},
      {"var/lib/dpkg/info/format", 0},
      {"var/lib/dpkg/info/orphan.md5sums", 0},
      {"var/lib/dpkg/status", 0},
  };
  EXPECT_EQ(Groups(t), want);
}

TEST(PackageGroupsTest, UnreadableListFailsNamingIt) {
  std::vector<TreeEntry> t = {File("var/lib/dpkg/info/less.list")};
  t[0].content.reset();
  t[0].source_path = "/nonexistent/less.list";
  auto n = AssignPackageGroups(&t);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("less.list"), std::string::npos) << n.status().ToString();
}

}  // namespace
}  // namespace sw
