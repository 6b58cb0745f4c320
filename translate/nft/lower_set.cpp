#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "translate/nft/lower.h"

namespace nfbpf::translate::nft {

namespace {

struct ElemIterDeleter {
  void operator()(nftnl_set_elems_iter* it) const { nftnl_set_elems_iter_destroy(it); }
};

ir::Bytes elem_bytes(nftnl_set_elem* e, uint16_t attr) {
  if (!nftnl_set_elem_is_set(e, attr)) return {};
  uint32_t len = 0;
  const auto* p = static_cast<const uint8_t*>(nftnl_set_elem_get(e, attr, &len));
  return p ? ir::Bytes(p, p + len) : ir::Bytes{};
}

int elem_comment_cb(const nftnl_udata* attr, void* data) {
  if (nftnl_udata_type(attr) == NFTNL_UDATA_SET_ELEM_COMMENT) {
    const char* s = static_cast<const char*>(nftnl_udata_get(attr));
    *static_cast<std::string*>(data) = std::string(s, strnlen(s, nftnl_udata_len(attr)));
  }
  return 0;
}

// Big-endian decrement: the inclusive end of an interval whose exclusive end is `b`.
ir::Bytes minus_one(ir::Bytes b) {
  for (size_t i = b.size(); i-- > 0;) {
    if (b[i]-- != 0) break;
  }
  return b;
}

Result<ir::Verdict> elem_verdict(nftnl_set_elem* e) {
  const auto code = static_cast<int32_t>(nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT));
  std::string chain;
  if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN)) chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
  switch (code) {
    case NF_ACCEPT: return ir::Verdict{ir::VerdictKind::kAccept, {}};
    case NF_DROP: return ir::Verdict{ir::VerdictKind::kDrop, {}};
    case NFT_CONTINUE: return ir::Verdict{ir::VerdictKind::kContinue, {}};
    case NFT_RETURN: return ir::Verdict{ir::VerdictKind::kReturn, {}};
    case NFT_JUMP: return ir::Verdict{ir::VerdictKind::kJump, chain};
    case NFT_GOTO: return ir::Verdict{ir::VerdictKind::kGoto, chain};
    default: return failf(EOPNOTSUPP, "verdict map element: verdict {} is not supported", code);
  }
}

struct RawElem {
  ir::Element elem;
  bool interval_end = false;
};

}  // namespace

Result<ir::Set> lower_set(const nftnl_set* s) {
  ir::Set out;
  out.name = nftnl_set_get_str(s, NFTNL_SET_NAME);
  out.flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
  out.key_type = nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE);
  out.key_len = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN);
  if (out.flags & ir::kSetMap) {
    if (nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE) == NFT_DATA_VERDICT) out.verdict_map = true;
    else out.data_len = nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN);
  }
  if (out.flags & ir::kSetObject) return failf(EOPNOTSUPP, "set {}: object maps are not supported yet", out.name);
  if (nftnl_set_is_set(s, NFTNL_SET_DESC_CONCAT)) {
    uint32_t n = 0;
    const auto* lens = static_cast<const uint8_t*>(nftnl_set_get_data(s, NFTNL_SET_DESC_CONCAT, &n));
    for (uint32_t i = 0; lens && i < n; ++i) out.key_parts.push_back(lens[i]);
  }
  if (out.key_parts.empty()) out.key_parts.push_back(out.key_len);

  std::vector<RawElem> raw;
  std::unique_ptr<nftnl_set_elems_iter, ElemIterDeleter> it(
      nftnl_set_elems_iter_create(const_cast<nftnl_set*>(s)));
  if (!it) return fail(ENOMEM, "cannot iterate set elements");
  while (nftnl_set_elem* e = nftnl_set_elems_iter_next(it.get())) {
    const uint32_t flags = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) ? nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) : 0;
    RawElem r;
    r.interval_end = flags & NFT_SET_ELEM_INTERVAL_END;
    r.elem.key = elem_bytes(e, NFTNL_SET_ELEM_KEY);
    r.elem.key_end = elem_bytes(e, NFTNL_SET_ELEM_KEY_END);
    if (out.verdict_map && !r.interval_end) {
      auto v = elem_verdict(e);
      if (!v) return std::unexpected(std::move(v).error().with_context("set " + out.name));
      r.elem.verdict = *v;
    }
    if (out.data_len && !r.interval_end) r.elem.data = elem_bytes(e, NFTNL_SET_ELEM_DATA);
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT)) r.elem.timeout_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA)) {
      uint32_t len = 0;
      const void* ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len);
      if (ud) nftnl_udata_parse(ud, len, elem_comment_cb, &r.elem.comment);
    }
    if (flags & NFT_SET_ELEM_CATCHALL) {  // no key: it answers every lookup no element answers
      r.elem.key.clear();
      r.elem.key_end.clear();
      out.catchall = std::move(r.elem);
      continue;
    }
    raw.push_back(std::move(r));
  }

  const bool boundary_form = (out.flags & ir::kSetInterval) && !(out.flags & ir::kSetConcat);
  if (!boundary_form) {
    for (auto& r : raw) {
      if (r.interval_end) continue;
      out.elements.push_back(std::move(r.elem));
    }
    return out;
  }
  // Boundary form: as nft_rbtree_lookup, the greatest boundary <= key decides; a start
  // boundary's interval therefore lasts until just before the next boundary (or the top).
  std::stable_sort(raw.begin(), raw.end(), [](const RawElem& a, const RawElem& b) { return a.elem.key < b.elem.key; });
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i].interval_end) continue;
    ir::Element e = std::move(raw[i].elem);
    e.key_end = i + 1 < raw.size() ? minus_one(raw[i + 1].elem.key) : ir::Bytes(e.key.size(), 0xff);
    out.elements.push_back(std::move(e));
  }
  return out;
}

}  // namespace nfbpf::translate::nft
