#include "nfnl-server/offload/ruleset_snapshot.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "nfnl-server/nftables/fill.h"

namespace nfbpf::offload {

namespace {

constexpr char kMagic[8] = {'N', 'F', 'B', 'P', 'F', 'R', 'S', '1'};
constexpr uint32_t kOwnerFlag = 0x2;  // NFT_TABLE_F_OWNER
// Elements per NEWSETELEM record: the element list is one nested attribute, whose length is 16 bits.
constexpr size_t kElemsPerMessage = 256;

void append_record(std::vector<uint8_t>& out, const nfnl::Message& m) {
  const uint32_t len = static_cast<uint32_t>(m.size());
  const auto* p = reinterpret_cast<const uint8_t*>(&len);
  out.insert(out.end(), p, p + sizeof len);
  out.insert(out.end(), m.begin(), m.end());
}

const nlmsghdr* header(const std::vector<uint8_t>& m) { return reinterpret_cast<const nlmsghdr*>(m.data()); }
uint16_t msg_type(const std::vector<uint8_t>& m) { return NFNL_MSG_TYPE(header(m)->nlmsg_type); }
uint8_t msg_family(const std::vector<uint8_t>& m) {
  return static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(header(m)))->nfgen_family;
}

// The batch under construction: messages appended one after the other, 4-byte aligned.
class BatchWriter {
 public:
  BatchWriter() {
    nftnl_batch_begin(reserve(256), seq_++);
    commit();
  }
  // Room for one message of at most n bytes; zeroed.
  char* reserve(size_t n) {
    if (buf_.size() < off_ + n) buf_.resize(off_ + n + 65536);
    std::memset(buf_.data() + off_, 0, n);
    return reinterpret_cast<char*>(buf_.data() + off_);
  }
  void commit() { off_ += NLMSG_ALIGN(reinterpret_cast<nlmsghdr*>(buf_.data() + off_)->nlmsg_len); }
  uint32_t seq() { return seq_++; }
  std::vector<uint8_t> done() {
    nftnl_batch_end(reserve(256), seq_++);
    commit();
    buf_.resize(off_);
    return std::move(buf_);
  }

 private:
  std::vector<uint8_t> buf_;
  size_t off_ = 0;
  uint32_t seq_ = 1;
};

template <typename T, void (*Free)(const T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using TablePtr = std::unique_ptr<nftnl_table, Deleter<nftnl_table, nftnl_table_free>>;
using ChainPtr = std::unique_ptr<nftnl_chain, Deleter<nftnl_chain, nftnl_chain_free>>;
using SetPtr = std::unique_ptr<nftnl_set, Deleter<nftnl_set, nftnl_set_free>>;
using RulePtr = std::unique_ptr<nftnl_rule, Deleter<nftnl_rule, nftnl_rule_free>>;
using ObjPtr = std::unique_ptr<nftnl_obj, Deleter<nftnl_obj, nftnl_obj_free>>;

// One object of a table to recreate, by handle.
struct Item {
  uint16_t type = 0;  // NFT_MSG_NEWCHAIN / NEWSET / NEWOBJ / NEWRULE
  const std::vector<uint8_t>* msg = nullptr;
  std::vector<const std::vector<uint8_t>*> elems;  // sets: their NEWSETELEM messages
  std::string chain;   // rules: their chain
  size_t position = 0; // rules: index in the chain
  bool anonymous = false;
};

struct SavedTable {
  const std::vector<uint8_t>* msg = nullptr;
  uint8_t family = 0;
  std::string name;
  uint64_t handle = 0;
  std::map<uint64_t, Item> items;  // by handle
};

Result<void> add_filler_chain(BatchWriter& b, uint8_t family, const std::string& table, uint64_t handle) {
  // Consumes one handle of the table's counter: created and deleted in the same batch.
  const std::string name = fmt::format("__nfbpf_gap{}", handle);
  for (uint16_t type : {NFT_MSG_NEWCHAIN, NFT_MSG_DELCHAIN}) {
    ChainPtr c(nftnl_chain_alloc());
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, table.c_str());
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, name.c_str());
    nlmsghdr* nlh = nftnl_chain_nlmsg_build_hdr(b.reserve(1024), type, family,
                                                type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE | NLM_F_EXCL : 0, b.seq());
    nftnl_chain_nlmsg_build_payload(nlh, c.get());
    b.commit();
  }
  return {};
}

void add_filler_table(BatchWriter& b, uint64_t handle) {
  const std::string name = fmt::format("__nfbpf_gap{}", handle);
  for (uint16_t type : {NFT_MSG_NEWTABLE, NFT_MSG_DELTABLE}) {
    TablePtr t(nftnl_table_alloc());
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, name.c_str());
    nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(b.reserve(1024), type, NFPROTO_IPV4,
                                                type == NFT_MSG_NEWTABLE ? NLM_F_CREATE | NLM_F_EXCL : 0, b.seq());
    nftnl_table_nlmsg_build_payload(nlh, t.get());
    b.commit();
  }
}

Result<void> add_elems(BatchWriter& b, const std::vector<uint8_t>& m) {
  SetPtr s(nftnl_set_alloc());
  if (nftnl_set_elems_nlmsg_parse(header(m), s.get()) < 0) return fail(EINVAL, "saved set elements do not parse");
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(b.reserve(m.size() * 2 + 1024), NFT_MSG_NEWSETELEM, msg_family(m),
                                        NLM_F_CREATE | NLM_F_EXCL, b.seq());
  nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
  b.commit();
  return {};
}

Result<void> add_item(BatchWriter& b, uint8_t family, const Item& it, uint64_t after_handle) {
  const std::vector<uint8_t>& m = *it.msg;
  const size_t room = m.size() * 2 + 1024;
  switch (it.type) {
    case NFT_MSG_NEWCHAIN: {
      ChainPtr c(nftnl_chain_alloc());
      if (nftnl_chain_nlmsg_parse(header(m), c.get()) < 0) return fail(EINVAL, "a saved chain does not parse");
      nftnl_chain_unset(c.get(), NFTNL_CHAIN_HANDLE);
      nftnl_chain_unset(c.get(), NFTNL_CHAIN_USE);
      nlmsghdr* nlh = nftnl_chain_nlmsg_build_hdr(b.reserve(room), NFT_MSG_NEWCHAIN, family, NLM_F_CREATE | NLM_F_EXCL, b.seq());
      nftnl_chain_nlmsg_build_payload(nlh, c.get());
      b.commit();
      return {};
    }
    case NFT_MSG_NEWSET: {
      SetPtr s(nftnl_set_alloc());
      if (nftnl_set_nlmsg_parse(header(m), s.get()) < 0) return fail(EINVAL, "a saved set does not parse");
      nftnl_set_unset(s.get(), NFTNL_SET_HANDLE);
      nftnl_set_set_u32(s.get(), NFTNL_SET_ID, static_cast<uint32_t>(b.seq()));  // required on NEWSET
      nlmsghdr* nlh = nftnl_set_nlmsg_build_hdr(b.reserve(room), NFT_MSG_NEWSET, family, NLM_F_CREATE | NLM_F_EXCL, b.seq());
      nftnl_set_nlmsg_build_payload(nlh, s.get());
      b.commit();
      if (it.anonymous)
        for (const auto* e : it.elems) NFBPF_TRYV(add_elems(b, *e));
      return {};
    }
    case NFT_MSG_NEWOBJ: {
      ObjPtr o(nftnl_obj_alloc());
      if (nftnl_obj_nlmsg_parse(header(m), o.get()) < 0) return fail(EINVAL, "a saved object does not parse");
      // libnftnl 1.2.4 does not export nftnl_obj_unset: the handle and use count travel along
      // and are ignored on NEWOBJ (as by the kernel's nf_tables_newobj).
      nlmsghdr* nlh = nftnl_nlmsg_build_hdr(b.reserve(room), NFT_MSG_NEWOBJ, family, NLM_F_CREATE | NLM_F_EXCL, b.seq());
      nftnl_obj_nlmsg_build_payload(nlh, o.get());
      b.commit();
      return {};
    }
    case NFT_MSG_NEWRULE: {
      RulePtr r(nftnl_rule_alloc());
      if (nftnl_rule_nlmsg_parse(header(m), r.get()) < 0) return fail(EINVAL, "a saved rule does not parse");
      nftnl_rule_unset(r.get(), NFTNL_RULE_HANDLE);
      nftnl_rule_unset(r.get(), NFTNL_RULE_POSITION);
      uint16_t flags = NLM_F_CREATE;
      if (after_handle) {  // after the nearest rule already replayed; else at the chain's head
        flags |= NLM_F_APPEND;
        nftnl_rule_set_u64(r.get(), NFTNL_RULE_POSITION, after_handle);
      }
      nlmsghdr* nlh = nftnl_rule_nlmsg_build_hdr(b.reserve(room), NFT_MSG_NEWRULE, family, flags, b.seq());
      nftnl_rule_nlmsg_build_payload(nlh, r.get());
      b.commit();
      return {};
    }
    default: return fail(EINVAL, "unexpected saved message");
  }
}

}  // namespace

std::vector<uint8_t> save_ruleset(const store::Ruleset& rs) {
  std::vector<uint8_t> out(kMagic, kMagic + sizeof kMagic);
  const uint64_t now = store::now_ms();
  nftables::FillHdr h{.genid = rs.genid};
  for (const auto& t : rs.tables) {
    if (!t->vis.cur || (t->flags & kOwnerFlag)) continue;
    h.event = NFT_MSG_NEWTABLE;
    append_record(out, nftables::fill_table(h, *t));
    for (const auto& s : t->sets) {
      if (!s->vis.cur) continue;
      h.event = NFT_MSG_NEWSET;
      append_record(out, nftables::fill_set(h, *t, *s));
      std::vector<const store::SetElem*> elems;
      for (const auto& e : s->elems)
        if (e.vis.cur && !e.expired(now)) elems.push_back(&e);
      h.event = NFT_MSG_NEWSETELEM;
      for (size_t i = 0; i < elems.size(); i += kElemsPerMessage) {
        const std::vector<const store::SetElem*> chunk(elems.begin() + i,
                                                       elems.begin() + std::min(elems.size(), i + kElemsPerMessage));
        append_record(out, nftables::fill_setelems(h, *t, *s, chunk));
      }
    }
    for (const auto& o : t->objects) {
      if (!o->vis.cur) continue;
      h.event = NFT_MSG_NEWOBJ;
      append_record(out, nftables::fill_obj(h, *t, *o));
    }
    for (const auto& c : t->chains) {
      if (!c->vis.cur) continue;
      h.event = NFT_MSG_NEWCHAIN;
      append_record(out, nftables::fill_chain(h, *t, *c));
    }
    // Rules after every chain (a rule's chain must be known when it is read back), in chain order.
    for (const auto& c : t->chains) {
      if (!c->vis.cur) continue;
      for (const auto& r : c->rules) {
        if (!r.vis.cur) continue;
        h.event = NFT_MSG_NEWRULE;
        append_record(out, nftables::fill_rule(h, *t, *c, r, 0));
      }
    }
  }
  return out;
}

Result<std::vector<uint8_t>> replay_batch(std::span<const uint8_t> saved) {
  if (saved.size() < sizeof kMagic || std::memcmp(saved.data(), kMagic, sizeof kMagic) != 0)
    return fail(EINVAL, "not a saved nfbpf ruleset");
  std::vector<std::vector<uint8_t>> msgs;
  for (size_t off = sizeof kMagic; off < saved.size();) {
    uint32_t len = 0;
    if (saved.size() - off < sizeof len) return fail(EINVAL, "truncated saved ruleset");
    std::memcpy(&len, saved.data() + off, sizeof len);
    off += sizeof len;
    if (len < NLMSG_HDRLEN + sizeof(nfgenmsg) || saved.size() - off < len) return fail(EINVAL, "truncated saved ruleset");
    msgs.emplace_back(saved.begin() + off, saved.begin() + off + len);
    if (header(msgs.back())->nlmsg_len != len) return fail(EINVAL, "corrupt saved ruleset");
    off += len;
  }

  std::vector<SavedTable> tables;
  std::map<std::string, size_t> rules_in;  // "chain" -> next position, for the current table
  uint64_t last_set = 0;
  for (const auto& m : msgs) {
    const uint16_t type = msg_type(m);
    if (type == NFT_MSG_NEWTABLE) {
      TablePtr t(nftnl_table_alloc());
      if (nftnl_table_nlmsg_parse(header(m), t.get()) < 0) return fail(EINVAL, "a saved table does not parse");
      tables.push_back(SavedTable{&m, msg_family(m), nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME),
                                  nftnl_table_get_u64(t.get(), NFTNL_TABLE_HANDLE), {}});
      rules_in.clear();
      continue;
    }
    if (tables.empty()) return fail(EINVAL, "saved object before its table");
    SavedTable& st = tables.back();
    uint64_t handle = 0;
    Item it{.type = type, .msg = &m};
    if (type == NFT_MSG_NEWSET) {
      SetPtr s(nftnl_set_alloc());
      if (nftnl_set_nlmsg_parse(header(m), s.get()) < 0) return fail(EINVAL, "a saved set does not parse");
      handle = nftnl_set_get_u64(s.get(), NFTNL_SET_HANDLE);
      it.anonymous = nftnl_set_get_u32(s.get(), NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS;
      last_set = handle;
    } else if (type == NFT_MSG_NEWSETELEM) {
      // Belongs to the set saved just before it.
      auto set = st.items.find(last_set);
      if (set == st.items.end()) return fail(EINVAL, "saved elements without their set");
      set->second.elems.push_back(&m);
      continue;
    } else if (type == NFT_MSG_NEWOBJ) {
      ObjPtr o(nftnl_obj_alloc());
      if (nftnl_obj_nlmsg_parse(header(m), o.get()) < 0) return fail(EINVAL, "a saved object does not parse");
      handle = nftnl_obj_get_u64(o.get(), NFTNL_OBJ_HANDLE);
    } else if (type == NFT_MSG_NEWCHAIN) {
      ChainPtr c(nftnl_chain_alloc());
      if (nftnl_chain_nlmsg_parse(header(m), c.get()) < 0) return fail(EINVAL, "a saved chain does not parse");
      handle = nftnl_chain_get_u64(c.get(), NFTNL_CHAIN_HANDLE);
    } else if (type == NFT_MSG_NEWRULE) {
      RulePtr r(nftnl_rule_alloc());
      if (nftnl_rule_nlmsg_parse(header(m), r.get()) < 0) return fail(EINVAL, "a saved rule does not parse");
      handle = nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE);
      it.chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
      it.position = rules_in[it.chain]++;
    } else {
      return failf(EINVAL, "unexpected saved message type {}", type);
    }
    if (handle == 0 || !st.items.emplace(handle, std::move(it)).second) return fail(EINVAL, "duplicate saved handle");
  }

  BatchWriter b;
  std::map<uint64_t, const SavedTable*> by_handle;
  for (const auto& t : tables) by_handle.emplace(t.handle, &t);
  uint64_t table_handle = 0;
  for (const auto& [th, st] : by_handle) {
    while (++table_handle < th) add_filler_table(b, table_handle);
    TablePtr t(nftnl_table_alloc());
    nftnl_table_nlmsg_parse(header(*st->msg), t.get());
    nftnl_table_unset(t.get(), NFTNL_TABLE_HANDLE);
    nftnl_table_unset(t.get(), NFTNL_TABLE_USE);
    nlmsghdr* nlh = nftnl_table_nlmsg_build_hdr(b.reserve(st->msg->size() * 2 + 1024), NFT_MSG_NEWTABLE, st->family,
                                                NLM_F_CREATE | NLM_F_EXCL, b.seq());
    nftnl_table_nlmsg_build_payload(nlh, t.get());
    b.commit();

    std::map<std::string, std::map<size_t, uint64_t>> placed;  // chain -> position -> handle
    uint64_t next = 0;
    for (const auto& [h, it] : st->items) {
      while (++next < h) NFBPF_TRYV(add_filler_chain(b, st->family, st->name, next));
      uint64_t after = 0;
      if (it.type == NFT_MSG_NEWRULE) {
        auto& in_chain = placed[it.chain];
        auto before = in_chain.lower_bound(it.position);
        if (before != in_chain.begin()) after = std::prev(before)->second;
        in_chain.emplace(it.position, h);
      }
      NFBPF_TRYV(add_item(b, st->family, it, after));
    }
    for (const auto& [h, it] : st->items)
      if (it.type == NFT_MSG_NEWSET && !it.anonymous)
        for (const auto* e : it.elems) NFBPF_TRYV(add_elems(b, *e));
  }
  return b.done();
}

Result<void> write_file_atomically(const std::string& path, std::span<const uint8_t> bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail_errno("creating " + tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto e = fail_errno("writing " + tmp);
      ::close(fd);
      return e;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto e = fail_errno("syncing " + tmp);
    ::close(fd);
    return e;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail_errno("renaming " + tmp);
  const std::string dir = path.substr(0, path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/'));
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Result<std::vector<uint8_t>> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return failf(ENOENT, "cannot read {}", path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

}  // namespace nfbpf::offload
