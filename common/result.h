#pragma once
// Errors as values. Every fallible function returns Result<T>; each layer that passes an error
// up adds a line of context, so the final message reads like a stack of "while ..." clauses.

#include <cerrno>
#include <cstdint>
#include <version>
#if defined(__cpp_lib_expected)
#include <expected>
#else
#include "common/expected_polyfill.h"
#endif
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace nfbpf {

struct Error {
  int err = EINVAL;                   // positive errno, as the kernel would report it
  std::string msg;                    // what went wrong (extended-ack text when sent to a client)
  std::vector<std::string> context;   // outermost last: "while loading chain inet t c"
  std::optional<uint32_t> bad_attr;   // byte offset of the offending attribute in the request

  Error() = default;
  Error(int e, std::string m) : err(e), msg(std::move(m)) {}

  Error&& with_context(std::string ctx) && {
    context.push_back(std::move(ctx));
    return std::move(*this);
  }
  Error& with_context(std::string ctx) & {
    context.push_back(std::move(ctx));
    return *this;
  }
  Error&& at_offset(uint32_t off) && {
    bad_attr = off;
    return std::move(*this);
  }

  // "msg (while a) (while b)" with the errno name, for logs.
  std::string describe() const;
};

template <typename T = void>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(int err, std::string msg) {
  return std::unexpected<Error>(Error(err, std::move(msg)));
}

template <typename... Args>
std::unexpected<Error> failf(int err, fmt::format_string<Args...> f, Args&&... args) {
  return std::unexpected<Error>(Error(err, fmt::format(f, std::forward<Args>(args)...)));
}

// Wraps a failed syscall: "what: strerror(errno)" with errno captured at the call.
std::unexpected<Error> fail_errno(std::string what);

// Propagate an error with added context: `NFBPF_TRY(x, expr)` or `NFBPF_TRYV(expr)` for Result<void>.
#define NFBPF_TRYV(expr)                                              \
  do {                                                                \
    auto&& nfbpf_try_r_ = (expr);                                     \
    if (!nfbpf_try_r_) return std::unexpected(std::move(nfbpf_try_r_).error()); \
  } while (0)

}  // namespace nfbpf
