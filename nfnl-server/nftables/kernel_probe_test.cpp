// The kernel capability probe against the running kernel (root: it creates a network
// namespace). What it reports is cross-checked with sources that do not depend on it: a name no
// kernel registers, the core types, and the kernel's own build configuration.
#include "nfnl-server/nftables/kernel_probe.h"

#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

namespace nfbpf::nftables {
namespace {

// CONFIG_* symbol -> "y", "m" or "n" from /proc/config.gz (empty when the kernel has none).
std::map<std::string, std::string> kernel_config() {
  std::map<std::string, std::string> out;
  FILE* f = ::popen("gzip -dc /proc/config.gz 2>/dev/null", "r");
  if (!f) return out;
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    std::string s(line);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    if (s.rfind("CONFIG_", 0) == 0) {
      auto eq = s.find('=');
      if (eq != std::string::npos) out[s.substr(0, eq)] = s.substr(eq + 1);
    } else if (s.rfind("# CONFIG_", 0) == 0 && s.ends_with(" is not set")) {
      out[s.substr(2, s.find(' ', 2) - 2)] = "n";
    }
  }
  ::pclose(f);
  return out;
}

TEST(KernelProbe, UnknownNameIsMissingAndCoreTypesArePresent) {
  ProbeRequest req;
  req.families = {NFPROTO_IPV4, NFPROTO_INET};
  req.exprs = {"nfbpf-test-no-such-expr", "immediate", "cmp", "payload", "bitwise", "lookup"};
  req.objects = {0 /* NFT_OBJECT_UNSPEC */, 99 /* beyond NFT_OBJECT_MAX */, NFT_OBJECT_COUNTER};
  auto caps = probe_kernel(req);
  ASSERT_TRUE(caps) << caps.error().describe();
  EXPECT_TRUE(caps->probed);
  std::set<std::pair<uint8_t, std::string>> want = {{NFPROTO_IPV4, "nfbpf-test-no-such-expr"},
                                                    {NFPROTO_INET, "nfbpf-test-no-such-expr"}};
  EXPECT_EQ(caps->missing_exprs, want);
  std::set<std::pair<uint8_t, uint32_t>> want_obj = {
      {NFPROTO_IPV4, 0}, {NFPROTO_IPV4, 99}, {NFPROTO_INET, 0}, {NFPROTO_INET, 99}};
  EXPECT_EQ(caps->missing_objects, want_obj);
}

// Built-in (=y) expression types must be found, types configured out must be missing.
TEST(KernelProbe, AgreesWithTheKernelConfig) {
  auto config = kernel_config();
  ASSERT_FALSE(config.empty()) << "this kernel exposes no /proc/config.gz to check against";
  const std::map<std::string_view, std::string> symbol = {
      {"queue", "CONFIG_NFT_QUEUE"},         {"osf", "CONFIG_NFT_OSF"},
      {"synproxy", "CONFIG_NFT_SYNPROXY"},   {"tproxy", "CONFIG_NFT_TPROXY"},
      {"socket", "CONFIG_NFT_SOCKET"},       {"xfrm", "CONFIG_NFT_XFRM"},
      {"numgen", "CONFIG_NFT_NUMGEN"},       {"connlimit", "CONFIG_NFT_CONNLIMIT"},
      {"hash", "CONFIG_NFT_HASH"},
      {"limit", "CONFIG_NFT_LIMIT"},         {"log", "CONFIG_NFT_LOG"},
      {"quota", "CONFIG_NFT_QUOTA"},         {"match", "CONFIG_NFT_COMPAT"},
      {"ct", "CONFIG_NFT_CT"},               {"masq", "CONFIG_NFT_MASQ"},
  };
  ProbeRequest req;
  req.families = {NFPROTO_IPV4};
  for (const auto& [name, sym] : symbol) req.exprs.push_back(name);
  auto caps = probe_kernel(req);
  ASSERT_TRUE(caps) << caps.error().describe();
  int checked = 0;
  for (const auto& [name, sym] : symbol) {
    auto it = config.find(sym);
    const std::string v = it == config.end() ? "n" : it->second;
    if (v == "m") continue;  // present iff the module can be loaded: not decidable here
    checked++;
    EXPECT_EQ(caps->has_expr(NFPROTO_IPV4, name), v == "y") << name << " (" << sym << "=" << v << ")";
  }
  EXPECT_GT(checked, 0);
}

// The bridge meta keys need nft_meta_bridge (CONFIG_NFT_BRIDGE_META); ip never has them.
TEST(KernelProbe, BridgeMetaKeysFollowTheConfig) {
  auto config = kernel_config();
  ASSERT_FALSE(config.empty());
  ProbeRequest req;
  req.families = {NFPROTO_BRIDGE, NFPROTO_IPV4};
  req.meta_keys = {NFT_META_MARK, NFT_META_IIFNAME, NFT_META_BRI_IIFNAME};
  auto caps = probe_kernel(req);
  ASSERT_TRUE(caps) << caps.error().describe();
  EXPECT_EQ(caps->meta_get_error(NFPROTO_BRIDGE, NFT_META_MARK), 0);
  EXPECT_EQ(caps->meta_get_error(NFPROTO_IPV4, NFT_META_MARK), 0);
  EXPECT_EQ(caps->meta_get_error(NFPROTO_IPV4, NFT_META_BRI_IIFNAME), EOPNOTSUPP);
  // `meta mark set` works everywhere; `meta iifname set` nowhere (nft_meta_set_init).
  EXPECT_EQ(caps->meta_set_error(NFPROTO_IPV4, NFT_META_MARK), 0);
  EXPECT_EQ(caps->meta_set_error(NFPROTO_BRIDGE, NFT_META_MARK), 0);
  EXPECT_EQ(caps->meta_set_error(NFPROTO_IPV4, NFT_META_IIFNAME), EOPNOTSUPP);
  const std::string v = config.contains("CONFIG_NFT_BRIDGE_META") ? config["CONFIG_NFT_BRIDGE_META"] : "n";
  if (v != "m") {
    EXPECT_EQ(caps->meta_get_error(NFPROTO_BRIDGE, NFT_META_BRI_IIFNAME), v == "y" ? 0 : EOPNOTSUPP);
  }
}

// Without an LSM that maps security contexts, every secmark object is ENOENT.
TEST(KernelProbe, SecmarkFollowsTheActiveLsms) {
  std::ifstream f("/sys/kernel/security/lsm");
  std::string lsms;
  std::getline(f, lsms);
  const bool maps_contexts = lsms.find("selinux") != std::string::npos ||
                             lsms.find("smack") != std::string::npos ||
                             lsms.find("apparmor") != std::string::npos;
  ProbeRequest req;
  req.families = {NFPROTO_INET};
  auto caps = probe_kernel(req);
  ASSERT_TRUE(caps) << caps.error().describe();
  if (!maps_contexts) {
    EXPECT_TRUE(caps->secmark_unresolvable) << "LSMs: " << lsms;
  }
}

// Table families come with CONFIG_NF_TABLES_<family>; 99 is no family at all.
TEST(KernelProbe, FamiliesFollowTheConfig) {
  auto config = kernel_config();
  ASSERT_FALSE(config.empty());
  const std::map<uint8_t, std::string> symbol = {
      {NFPROTO_INET, "CONFIG_NF_TABLES_INET"},     {NFPROTO_IPV4, "CONFIG_NF_TABLES_IPV4"},
      {NFPROTO_IPV6, "CONFIG_NF_TABLES_IPV6"},     {NFPROTO_ARP, "CONFIG_NF_TABLES_ARP"},
      {NFPROTO_BRIDGE, "CONFIG_NF_TABLES_BRIDGE"}, {NFPROTO_NETDEV, "CONFIG_NF_TABLES_NETDEV"}};
  ProbeRequest req;
  for (const auto& [f, sym] : symbol) req.families.push_back(f);
  req.families.push_back(99);
  req.exprs = {"counter"};
  auto caps = probe_kernel(req);
  ASSERT_TRUE(caps) << caps.error().describe();
  EXPECT_FALSE(caps->has_family(99));
  for (const auto& [f, sym] : symbol) {
    const std::string v = config.contains(sym) ? config[sym] : "n";
    if (v != "m") {
      EXPECT_EQ(caps->has_family(f), v == "y") << sym;
    }
  }
}

// Flowtable types come with CONFIG_NF_FLOW_TABLE_INET (inet, ip, ip6).
TEST(KernelProbe, FlowtablesFollowTheConfig) {
  auto config = kernel_config();
  ASSERT_FALSE(config.empty());
  ProbeRequest req;
  req.families = {NFPROTO_INET, NFPROTO_IPV4, NFPROTO_IPV6};
  auto caps = probe_kernel(req);
  ASSERT_TRUE(caps) << caps.error().describe();
  const std::string v = config.contains("CONFIG_NF_FLOW_TABLE_INET") ? config["CONFIG_NF_FLOW_TABLE_INET"] : "n";
  if (v != "m") {
    for (uint8_t f : req.families) EXPECT_EQ(caps->has_flowtable(f), v == "y") << int(f);
  }
}

// The whole default probe: finishes, and in well under a second on a built-in nf_tables.
TEST(KernelProbe, DefaultRequestRuns) {
  auto caps = probe_kernel(default_probe_request());
  ASSERT_TRUE(caps) << caps.error().describe();
  EXPECT_TRUE(caps->has_expr(NFPROTO_INET, "payload"));
  // Registered for the netdev family only (nft_fwd_netdev, nft_tunnel), if at all.
  EXPECT_FALSE(caps->has_expr(NFPROTO_IPV4, "fwd"));
  EXPECT_FALSE(caps->has_expr(NFPROTO_IPV4, "tunnel"));
}

}  // namespace
}  // namespace nfbpf::nftables
