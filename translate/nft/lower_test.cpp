// Lowering tests: rules built with libnftnl exactly as nft 1.0.6 emits them (the expression
// sequences of `nft --debug=netlink`), lowered, passed through the pipeline and printed.
#include "translate/nft/lower.h"

#include <gtest/gtest.h>
#include <libnftnl/expr.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <initializer_list>
#include <memory>

#include "translate/ir/build.h"
#include "translate/ir/printer.h"
#include "translate/passes/pipeline.h"

namespace nfbpf::translate::nft {
namespace {

struct RuleDeleter {
  void operator()(nftnl_rule* r) const { nftnl_rule_free(r); }
};
using RulePtr = std::unique_ptr<nftnl_rule, RuleDeleter>;
struct SetDeleter {
  void operator()(nftnl_set* s) const { nftnl_set_free(s); }
};
using SetPtr = std::unique_ptr<nftnl_set, SetDeleter>;

// A small DSL mirroring nft's debug output, one call per "[ ... ]" line.
class RuleMaker {
 public:
  RuleMaker() : r_(nftnl_rule_alloc()) {}
  RuleMaker& payload(uint32_t base, uint32_t off, uint32_t len, uint32_t dreg = NFT_REG_1) {
    auto* e = add("payload");
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
    return *this;
  }
  RuleMaker& meta(uint32_t key, uint32_t dreg = NFT_REG_1) {
    auto* e = add("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
    return *this;
  }
  RuleMaker& meta_set(uint32_t key, uint32_t sreg) {
    auto* e = add("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
    return *this;
  }
  RuleMaker& cmp(uint32_t op, std::initializer_list<uint8_t> data, uint32_t sreg = NFT_REG_1) {
    auto* e = add("cmp");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
    std::vector<uint8_t> d(data);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, d.data(), d.size());
    return *this;
  }
  RuleMaker& bitwise(std::initializer_list<uint8_t> mask, std::initializer_list<uint8_t> xor_) {
    auto* e = add("bitwise");
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, static_cast<uint32_t>(mask.size()));
    std::vector<uint8_t> m(mask), x(xor_);
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, m.data(), m.size());
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, x.data(), x.size());
    return *this;
  }
  RuleMaker& shift_right(uint32_t len, uint32_t amount) {
    auto* e = add("bitwise");
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_RSHIFT);
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_DATA, &amount, 4);
    return *this;
  }
  RuleMaker& range(uint32_t op, std::initializer_list<uint8_t> from, std::initializer_list<uint8_t> to) {
    auto* e = add("range");
    nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, op);
    std::vector<uint8_t> f(from), t(to);
    nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, f.data(), f.size());
    nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, t.data(), t.size());
    return *this;
  }
  RuleMaker& byteorder_hton(uint32_t len, uint32_t size) {
    auto* e = add("byteorder");
    nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, len);
    nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, size);
    return *this;
  }
  RuleMaker& lookup(const char* set, std::optional<uint32_t> dreg = {}, bool inv = false) {
    auto* e = add("lookup");
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
    if (dreg) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, *dreg);
    if (inv) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
    return *this;
  }
  RuleMaker& counter() {
    add("counter");
    return *this;
  }
  RuleMaker& immediate_data(uint32_t dreg, std::initializer_list<uint8_t> data) {
    auto* e = add("immediate");
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
    std::vector<uint8_t> d(data);
    nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, d.data(), d.size());
    return *this;
  }
  RuleMaker& verdict(int32_t code, const char* chain = nullptr) {
    auto* e = add("immediate");
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(code));
    if (chain) nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
    return *this;
  }
  RuleMaker& raw(const char* kind) {
    add(kind);
    return *this;
  }
  const nftnl_rule* get() const { return r_.get(); }

 private:
  nftnl_expr* add(const char* kind) {
    nftnl_expr* e = nftnl_expr_alloc(kind);
    nftnl_rule_add_expr(r_.get(), e);
    return e;
  }
  RulePtr r_;
};

constexpr uint32_t NH = NFT_PAYLOAD_NETWORK_HEADER;
constexpr uint32_t TH = NFT_PAYLOAD_TRANSPORT_HEADER;

// Lowers `rules` into a one-chain table with `sets`, runs the pipeline, returns the printed rules.
Result<std::string> translate(ir::Family fam, std::vector<const RuleMaker*> rules, std::vector<ir::Set> sets = {}) {
  ir::Table t{.family = fam, .name = "t"};
  t.sets = std::move(sets);
  t.chains.push_back(ir::Chain{.name = "c"});
  t.chains.push_back(ir::Chain{.name = "other"});
  uint64_t handle = 1;
  for (const auto* m : rules) {
    LowerContext ctx{.family = fam, .table = "t", .chain = "c", .rule_handle = handle++};
    auto r = lower_rule(m->get(), ctx);
    if (!r) return std::unexpected(r.error());
    t.chains[0].rules.push_back(std::move(*r));
  }
  NFBPF_TRYV(passes::run_pipeline(t));
  std::string out;
  for (const auto& r : t.chains[0].rules) out += ir::to_string(r) + "\n";
  return out;
}

TEST(LowerRule, PrefixPortAndCounterBecomeMatchers) {
  // ip saddr 10.0.0.0/8 tcp dport 22 counter drop   (family ip)
  RuleMaker m;
  m.payload(NH, 12, 4).bitwise({0xff, 0, 0, 0}, {0, 0, 0, 0}).cmp(NFT_CMP_EQ, {10, 0, 0, 0});
  m.meta(NFT_META_L4PROTO).cmp(NFT_CMP_EQ, {6});
  m.payload(TH, 2, 2).cmp(NFT_CMP_EQ, {0, 22}).counter().verdict(NF_DROP);
  auto out = translate(ir::Family::kIp, {&m});
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(*out,
            "rule 1: ip saddr & ff000000 == 0a000000; meta l4proto == 06; tcp dport == 0016; counter -> drop\n");
}

TEST(LowerRule, InetGuardsNameFieldsPerFamily) {
  // meta nfproto ipv6 ip6 daddr ::1 udp sport 1000-2000 accept   (family inet)
  RuleMaker m;
  m.meta(NFT_META_NFPROTO).cmp(NFT_CMP_EQ, {10});
  m.payload(NH, 24, 16).cmp(NFT_CMP_EQ, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  m.meta(NFT_META_L4PROTO).cmp(NFT_CMP_EQ, {17});
  m.payload(TH, 0, 2).range(NFT_RANGE_EQ, {0x03, 0xe8}, {0x07, 0xd0}).verdict(NF_ACCEPT);
  auto out = translate(ir::Family::kInet, {&m});
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(*out,
            "rule 1: meta nfproto == 0a; ip6 daddr == 00000000000000000000000000000001; meta l4proto == 11; "
            "udp sport in-range 03e8-07d0 -> accept\n");
}

TEST(LowerRule, HostOrderFieldsConvertedForRangesStayExact) {
  // meta mark 0x10-0x20 jump other: nft converts the mark to network order for the range.
  RuleMaker m;
  m.meta(NFT_META_MARK).byteorder_hton(4, 4).range(NFT_RANGE_EQ, {0, 0, 0, 0x10}, {0, 0, 0, 0x20});
  m.verdict(NFT_JUMP, "other");
  auto out = translate(ir::Family::kIp, {&m});
  ASSERT_TRUE(out) << out.error().describe();
  // The field is now read in network order ("be"), so the range compares numerically as nft does.
  EXPECT_EQ(*out, "rule 1: meta mark/4 be in-range 00000010-00000020 -> jump other\n");
}

TEST(LowerRule, SetsConcatenationsAndVerdictMaps) {
  ir::Set pairs{.name = "pairs", .flags = ir::kSetConcat, .key_parts = {4, 2}, .key_len = 8};
  ir::Set vm{.name = "vm", .flags = ir::kSetMap, .key_parts = {2}, .key_len = 2, .verdict_map = true};
  ir::Set addrs{.name = "addrs", .key_parts = {4}, .key_len = 4};
  // ip saddr . tcp dport @pairs accept
  RuleMaker a;
  a.meta(NFT_META_L4PROTO).cmp(NFT_CMP_EQ, {6});
  a.payload(NH, 12, 4, NFT_REG_1).payload(TH, 2, 2, NFT_REG32_01).lookup("pairs").verdict(NF_ACCEPT);
  // tcp dport vmap @vm
  RuleMaker b;
  b.meta(NFT_META_L4PROTO).cmp(NFT_CMP_EQ, {6});
  b.payload(TH, 2, 2).lookup("vm", NFT_REG_VERDICT);
  // ip daddr != @addrs drop
  RuleMaker c;
  c.payload(NH, 16, 4).lookup("addrs", std::nullopt, true).verdict(NF_DROP);
  auto out = translate(ir::Family::kIp, {&a, &b, &c}, {pairs, vm, addrs});
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(*out,
            "rule 1: meta l4proto == 06; ip saddr . tcp dport in @pairs -> accept\n"
            "rule 2: meta l4proto == 06; tcp dport vmap @vm -> continue\n"
            "rule 3: ip daddr not-in @addrs -> drop\n");
}

TEST(LowerRule, UnrecognisedShapesStayRegisterBlocksInsteadOfBeingRefused) {
  // (ip dscp >> 2) == 46, written with a shift: no matcher form, still translated.
  RuleMaker m;
  m.payload(NH, 1, 1).shift_right(1, 2).cmp(NFT_CMP_EQ, {46}).verdict(NF_ACCEPT);
  auto out = translate(ir::Family::kIp, {&m});
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(*out, "rule 1: { r4 = ip dscp; r4 = r4 >> 2 (len 1); r4 == 2e } -> accept\n");
}

TEST(LowerRule, MarkSetAndContinue) {
  RuleMaker m;
  m.immediate_data(NFT_REG_1, {0x10, 0, 0, 0}).meta_set(NFT_META_MARK, NFT_REG_1).verdict(NFT_CONTINUE);
  auto out = translate(ir::Family::kIp, {&m});
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(*out, "rule 1: mark set (mark & 0x0) ^ 0x10 -> continue\n");
}

TEST(LowerRule, RefusalsNameTheExpressionAndTheRule) {
  RuleMaker m;
  m.payload(NH, 9, 1).cmp(NFT_CMP_EQ, {6}).raw("reject");
  auto out = translate(ir::Family::kIp, {&m});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().err, EOPNOTSUPP);
  EXPECT_EQ(out.error().msg,
            "reject: sends ICMP or TCP reset replies, which a BPF netfilter program cannot (rule 1 in chain ip t c)");

  RuleMaker p;
  p.immediate_data(NFT_REG_1, {1, 2}).raw("payload");
  nftnl_expr_iter* it = nftnl_expr_iter_create(p.get());
  nftnl_expr_iter_next(it);
  nftnl_expr* pay = nftnl_expr_iter_next(it);
  nftnl_expr_iter_destroy(it);
  nftnl_expr_set_u32(pay, NFTNL_EXPR_PAYLOAD_SREG, NFT_REG_1);
  auto out2 = translate(ir::Family::kIp, {&p});
  ASSERT_FALSE(out2);
  EXPECT_EQ(out2.error().err, EOPNOTSUPP);
  EXPECT_NE(out2.error().msg.find("payload set"), std::string::npos);
}

TEST(LowerRule, VerdictEndsTheRule) {
  RuleMaker m;
  m.verdict(NF_ACCEPT).payload(NH, 12, 4).cmp(NFT_CMP_EQ, {1, 2, 3, 4});
  auto out = translate(ir::Family::kIp, {&m});
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "rule 1: -> accept\n");
}

// ---- sets ----

SetPtr make_set(const char* name, uint32_t flags, uint32_t key_len) {
  SetPtr s(nftnl_set_alloc());
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, name);
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, flags);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, key_len);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, 7);
  return s;
}

void add_elem(nftnl_set* s, std::initializer_list<uint8_t> key, uint32_t flags = 0) {
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  std::vector<uint8_t> k(key);
  if (!k.empty()) nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, k.data(), k.size());  // catch-all: no key
  if (flags) nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, flags);
  nftnl_set_elem_add(s, e);
}

TEST(LowerSet, IntervalBoundariesBecomeInclusiveRanges) {
  // { 10.0.0.0/24, 10.0.2.0-10.0.2.9, 192.168.0.0- } as nft sends it (unsorted on purpose).
  auto s = make_set("s", NFT_SET_INTERVAL, 4);
  add_elem(s.get(), {10, 0, 2, 10}, NFT_SET_ELEM_INTERVAL_END);
  add_elem(s.get(), {10, 0, 0, 0});
  add_elem(s.get(), {10, 0, 1, 0}, NFT_SET_ELEM_INTERVAL_END);
  add_elem(s.get(), {192, 168, 0, 0});
  add_elem(s.get(), {10, 0, 2, 0});
  auto out = lower_set(s.get());
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(ir::to_string(*out),
            "set s key_len 4 parts [4] flags 0x4 { 0a000000-0a0000ff, 0a000200-0a000209, c0a80000-ffffffff }");
}

TEST(LowerSet, VerdictMapsCarryVerdictsAndTheCatchAllApart) {
  auto s = make_set("vm", NFT_SET_MAP, 2);
  nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
  nftnl_set_elem* e = nftnl_set_elem_alloc();
  uint8_t key[2] = {0, 22};
  nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, 2);
  nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, static_cast<uint32_t>(NFT_JUMP));
  nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, "ssh");
  nftnl_set_elem_add(s.get(), e);
  auto out = lower_set(s.get());
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_EQ(ir::to_string(*out), "set vm key_len 2 parts [2] flags 0x8 : verdict { 0016 : jump ssh }");
  EXPECT_FALSE(out->catchall);

  // '* : drop': no key, kept out of the elements (it answers only when no element does).
  nftnl_set_elem* star = nftnl_set_elem_alloc();
  nftnl_set_elem_set_u32(star, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_CATCHALL);
  nftnl_set_elem_set_u32(star, NFTNL_SET_ELEM_VERDICT, static_cast<uint32_t>(NF_DROP));
  nftnl_set_elem_add(s.get(), star);
  auto with = lower_set(s.get());
  ASSERT_TRUE(with) << with.error().describe();
  ASSERT_EQ(with->elements.size(), 1u);
  ASSERT_TRUE(with->catchall);
  ASSERT_TRUE(with->catchall->verdict);
  EXPECT_EQ(with->catchall->verdict->kind, ir::VerdictKind::kDrop);
  EXPECT_EQ(ir::to_string(*with), "set vm key_len 2 parts [2] flags 0x8 : verdict { 0016 : jump ssh, * : drop }");
}

}  // namespace
}  // namespace nfbpf::translate::nft
