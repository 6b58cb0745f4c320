#pragma once
// The atomic swap. Netfilter links cannot be updated (BPF_LINK_UPDATE: EOPNOTSUPP), so each hook
// point gets a tiny fixed dispatcher program, attached once:
//
//     r2 = map_fd(prog_array); r3 = 0; call bpf_tail_call   ; r1 is still ctx
//     r0 = <default verdict>; exit                           ; slot empty (or tail call failed)
//
// Replacing the chain program is one prog_array update of slot 0, which is atomic for packets:
// each one runs either the old or the new program, never both or neither. A chain program must
// have the dispatcher's flavor (same prog type and expected attach type). The same mechanism works
// for every flavor (XDP/TCX/cgroup links can also be swapped with kernel::Link::update).

#include <optional>
#include <string>

#include "codegen/emit/program.h"
#include "codegen/flavor/attach.h"
#include "codegen/kernel/objects.h"

namespace nfbpf::codegen::runtime {

// The dispatcher's instructions (exposed for golden tests); it refers to map "prog_array".
emit::Program make_dispatcher_program(std::string name, int32_t default_verdict);

class Dispatcher {
 public:
  // Creates the prog array and loads the dispatcher; nothing is attached yet. default_verdict is
  // returned while no chain is installed (a base chain's policy, or the flavor's accept).
  static Result<Dispatcher> create(kernel::Kernel& k, flavor::Flavor f, int32_t default_verdict,
                                   std::string name = "nfbpf_disp");
  Dispatcher(Dispatcher&&) = default;
  Dispatcher& operator=(Dispatcher&&) = default;

  // Attaches the dispatcher (once). Netfilter: the link lands in the calling thread's netns.
  Result<void> attach(const flavor::AttachPoint& at);
  void detach() { link_.reset(); }
  bool attached() const { return link_.has_value(); }

  // Atomically makes `chain` the program run for every packet. The caller keeps `chain` alive as
  // long as it wants (the prog array holds its own reference).
  Result<void> install(const kernel::Prog& chain);
  // Empties the slot: packets get the default verdict.
  Result<void> clear();

  // Persistence (nfbpfd --bpffs): pins the link, the dispatcher program and the prog array as
  // `<prefix>_link`, `<prefix>_prog`, `<prefix>_array`, so the attachment outlives the daemon;
  // adopt() opens them again in a later daemon (the slot keeps the program it had).
  Result<void> pin(const std::string& prefix);
  static Result<Dispatcher> adopt(kernel::Kernel& k, flavor::Flavor f, const std::string& prefix,
                                  std::string name = "nfbpf_disp");
  // Removes the pins (the objects live on while this process holds them).
  static void unpin(const std::string& prefix);

  flavor::Flavor flavor() const { return flavor_; }
  const kernel::Prog& program() const { return prog_; }
  const kernel::Map& prog_array() const { return prog_array_; }

 private:
  Dispatcher(kernel::Kernel& k, flavor::Flavor f, kernel::Map m, kernel::Prog p)
      : kernel_(&k), flavor_(f), prog_array_(std::move(m)), prog_(std::move(p)) {}
  kernel::Kernel* kernel_;
  flavor::Flavor flavor_;
  kernel::Map prog_array_;
  kernel::Prog prog_;
  std::optional<kernel::Link> link_;
};

}  // namespace nfbpf::codegen::runtime
