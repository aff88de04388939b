#include "cluster/nodedb.h"

#include "gtest/gtest.h"

namespace sw {
namespace {

constexpr char kConf[] = R"(
nodeprofiles:
  base:
    cluster name: c1
    kernel:
      args: [quiet, crashkernel=no]
    system overlay: [wwinit, wwclient, hosts]
    runtime overlay: [hosts]
  default:
    profiles: [base]
    image name: rocky9
    system overlay: [fstab, hostname]
    ipxe template: default
nodes:
  n0002:
    profiles: [default]
    asset key: SN2
    system overlay: [~hosts, extra]
    kernel:
      args: [console=ttyS0]
    network devices:
      eth1: {hwaddr: "AA-BB-CC-00-00-21", ipaddr: 10.0.1.2}
      default: {device: eth0, hwaddr: "aa:bb:cc:00:00:02", ipaddr: 10.0.0.2, netmask: 255.255.0.0}
    primary network: default
    tags: {IPXEMenuEntry: dracut}
  n0001:
    profiles: [default]
    image name: other
    network devices:
      b: {hwaddr: "aa:bb:cc:00:00:0b"}
      a: {hwaddr: "aa:bb:cc:00:00:0a"}
  disc:
    profiles: [default]
    discoverable: true
    network devices:
      default: {hwaddr: "aa:bb:cc:00:00:99"}
)";

TEST(NodeDbTest, ProfilesMergeLikeWarewulf) {
  auto db = NodeDb::Parse(kConf);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_EQ((*db)->nodes().size(), 3u);
  EXPECT_EQ((*db)->nodes()[0].id, "disc");  // sorted by id
  const Node* n2 = (*db)->Find("n0002");
  ASSERT_NE(n2, nullptr);
  EXPECT_EQ(n2->image_name, "rocky9");
  EXPECT_EQ(n2->cluster_name, "c1");
  EXPECT_EQ(n2->ipxe_template, "default");
  EXPECT_EQ(n2->asset_key, "SN2");
  EXPECT_EQ(n2->KernelArgsJoined(), "quiet crashkernel=no console=ttyS0");
  std::vector<std::string> sys = {"wwinit", "wwclient", "fstab", "hostname", "extra"};
  EXPECT_EQ(n2->system_overlay, sys);  // lists appended in profile order, ~hosts removed
  EXPECT_EQ(n2->runtime_overlay, std::vector<std::string>{"hosts"});
  EXPECT_EQ(n2->Primary()->name, "default");
  EXPECT_EQ(n2->Primary()->netmask, "255.255.0.0");
  EXPECT_EQ(n2->tags.at("IPXEMenuEntry"), "dracut");
  const Node* n1 = (*db)->Find("n0001");
  EXPECT_EQ(n1->image_name, "other");  // node wins over profile
  EXPECT_EQ(n1->Primary()->name, "a");  // alphabetically first
}

TEST(NodeDbTest, EveryNicIdentifiesTheNode) {
  auto db = *NodeDb::Parse(kConf);
  EXPECT_EQ(db->FindByHwaddr("AA:BB:CC:00:00:02")->id, "n0002");
  EXPECT_EQ(db->FindByHwaddr("aa-bb-cc-00-00-21")->id, "n0002");
  EXPECT_EQ(db->FindByHwaddr("aa:bb:cc:00:00:0b")->id, "n0001");
  EXPECT_EQ(db->FindByHwaddr("aa:bb:cc:00:00:99"), nullptr);  // discoverable: not indexed
  EXPECT_EQ(db->FindByHwaddr("00:00:00:00:00:00"), nullptr);
}

TEST(NodeDbTest, LongAndOddHwaddrsAreFoundToo) {
  // MACs are looked up by value; anything else (an InfiniBand GUID, a name) by its text.
  auto db = *NodeDb::Parse(R"(nodes:
  ib1:
    network devices:
      ib0: {hwaddr: "80:00:00:48:FE:80:00:00:00:00:00:00:00:02:C9:03:00:1F:13:A1"}
  odd:
    network devices:
      x: {hwaddr: "not-a-mac"}
  eth:
    network devices:
      e: {hwaddr: "0A:1B:2C:3D:4E:5F"}
)");
  EXPECT_EQ(db->FindByHwaddr("80-00-00-48-fe-80-00-00-00-00-00-00-00-02-c9-03-00-1f-13-a1")->id,
            "ib1");
  EXPECT_EQ(db->FindByHwaddr("NOT-A-MAC")->id, "odd");
  EXPECT_EQ(db->FindByHwaddr("0a-1b-2c-3d-4e-5f")->id, "eth");
  EXPECT_EQ(db->FindByHwaddr("0a:1b:2c:3d:4e:5e"), nullptr);
  EXPECT_EQ(db->FindByHwaddr("0a:1b:2c:3d:4e:5g"), nullptr);
}

TEST(NodeDbTest, ErrorsNameTheProblem) {
  auto bad = NodeDb::Parse("nodes:\n  n1:\n    profiles: [nope]\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find("unknown profile 'nope'"), std::string::npos);
  auto syntax = NodeDb::Parse("nodes:\n  n1: {profiles: [a\n", "x.conf");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().ToString().find("x.conf:"), std::string::npos);
  auto dup = NodeDb::Parse(
      "nodes:\n  a: {network devices: {d: {hwaddr: '02:00:00:00:00:01'}}}\n"
      "  b: {network devices: {d: {hwaddr: '02-00-00-00-00-01'}}}\n");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().ToString().find("used by both"), std::string::npos);
  EXPECT_TRUE(NodeDb::Parse("").ok());
}

TEST(NodeDbTest, ScalarListsAreSplitLikeWarewulf) {
  auto db = NodeDb::Parse(
      "nodes:\n  n1:\n    system overlay: 'wwinit, hosts,,'\n"
      "    kernel: {args: 'quiet  console=ttyS0'}\n");
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  const Node* n = (*db)->Find("n1");
  EXPECT_EQ(n->system_overlay, (std::vector<std::string>{"wwinit", "hosts"}));
  EXPECT_EQ(n->KernelArgsJoined(), "quiet console=ttyS0");
}

}  // namespace
}  // namespace sw
