// meta time / day / hour, as nft_meta_get_eval_time computes them from ktime_get_real_ns():
//   time  realtime in ns (u64)
//   day   (seconds - 60 * sys_tz.tz_minuteswest) / 86400 + 4, mod 7 (0 = Sunday; 1970-01-01 was a Thursday)
//   hour  seconds of the UTC day (time64_to_tm with offset 0: nft converts the rule's local time
//         to UTC in userspace)
// BPF has no realtime clock helper; bpf_ktime_get_tai_ns() is CLOCK_TAI, which the kernel keeps at
// exactly realtime + the TAI offset (offs_tai = offs_real + tai_offset). The offset and sys_tz are
// read when the program is compiled and baked in: exact until someone changes them (adjtimex
// ADJ_TAI, settimeofday's timezone), which a recompile picks up. Clock steps (settimeofday,
// NTP) move CLOCK_TAI with realtime and need nothing.
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "codegen/matcher/meta.h"

namespace nfbpf::codegen::matcher {

using emit::AluOp;
using emit::Reg;

namespace {
constexpr int32_t kNsPerSecond = 1000000000, kSecondsPerDay = 86400;
}

Result<ClockOffsets> read_clock_offsets() {
  ClockOffsets o;
  struct timex tx {};
  if (adjtimex(&tx) < 0) return fail_errno("adjtimex (reading the TAI offset)");
  o.tai_seconds = tx.tai;
  // The raw syscall: it answers with the kernel's sys_tz (the vDSO path may not).
  struct timeval tv {};
  struct timezone tz {};
  if (syscall(SYS_gettimeofday, &tv, &tz) < 0) return fail_errno("gettimeofday (reading sys_tz)");
  o.minutes_west = tz.tz_minuteswest;
  return o;
}

Result<void> emit_clock_key(EmitCtx& c, ir::MetaKey k) {
  emit::Program& p = c.p;
  auto off = read_clock_offsets();
  if (!off) return std::unexpected(std::move(off).error());
  p.call_helper(BPF_FUNC_ktime_get_tai_ns);
  p.mov(Reg::R1, Reg::R0);
  if (k == ir::MetaKey::kTime) {
    if (off->tai_seconds != 0) {
      p.ld_imm64(Reg::R2, static_cast<uint64_t>(off->tai_seconds) * kNsPerSecond);
      p.alu(AluOp::kSub, Reg::R1, Reg::R2);
    }
    return {};
  }
  p.alu(AluOp::kDiv, Reg::R1, kNsPerSecond);  // unsigned 64-bit
  int64_t shift = off->tai_seconds + (k == ir::MetaKey::kDay ? 60ll * off->minutes_west : 0);
  if (shift != 0) p.alu(AluOp::kSub, Reg::R1, static_cast<int32_t>(shift));
  if (k == ir::MetaKey::kHour) {
    p.alu(AluOp::kMod, Reg::R1, kSecondsPerDay);
    return {};
  }
  p.alu(AluOp::kDiv, Reg::R1, kSecondsPerDay);
  p.alu(AluOp::kAdd, Reg::R1, 4);
  p.alu(AluOp::kMod, Reg::R1, 7);
  return {};
}

}  // namespace nfbpf::codegen::matcher
