#include "common/result.h"

#include <cstring>

namespace nfbpf {

std::string Error::describe() const {
  std::string out = msg.empty() ? std::string(strerror(err)) : msg;
  for (const auto& c : context) {
    out += " (while ";
    out += c;
    out += ")";
  }
  out += fmt::format(" [{}]", strerrorname_np(err) ? strerrorname_np(err) : "E?");
  return out;
}

std::unexpected<Error> fail_errno(std::string what) {
  int e = errno;
  return std::unexpected<Error>(Error(e, fmt::format("{}: {}", what, strerror(e))));
}

}  // namespace nfbpf
