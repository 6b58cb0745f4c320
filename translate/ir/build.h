#pragma once
// Small constructors for IR values: used by translators and by tests to write IR readably.

#include <string_view>

#include "common/result.h"
#include "translate/ir/fields.h"
#include "translate/ir/ir.h"

namespace nfbpf::ir::build {

Bytes be16(uint16_t v);
Bytes be32(uint32_t v);
Bytes host32(uint32_t v);
Bytes u8(uint8_t v);
Result<Bytes> ip4(std::string_view dotted);  // "10.0.0.1" -> 4 bytes
Result<Bytes> ip6(std::string_view text);    // "2001:db8::1" -> 16 bytes
Bytes ifname(std::string_view name);         // 16 bytes, NUL padded (IFNAMSIZ)
Bytes prefix_mask(uint32_t len_bytes, uint32_t prefix_bits);

// Register layout length of a key: each concatenated part padded to 4 bytes; a single field is
// its own length.
uint32_t key_len(const std::vector<Field>& key);

Match cmp(KnownField f, Op op, Bytes value);
Match eq(KnownField f, Bytes value);
Match ne(KnownField f, Bytes value);
Match range(KnownField f, Bytes lo, Bytes hi, bool negate = false);
Match prefix(KnownField f, Bytes addr, uint32_t prefix_bits);
Match masked(KnownField f, Bytes mask, Op op, Bytes value);
Match in_set(std::vector<Field> key, std::string set, bool negate = false);

Verdict accept();
Verdict drop();
Verdict jump(std::string chain);
Verdict go_to(std::string chain);
Verdict ret();

}  // namespace nfbpf::ir::build
