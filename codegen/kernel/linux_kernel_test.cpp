// Needs root and BPF (LABELS root). Creates only unattached objects; pinning happens in a forked
// child inside a private mount namespace.
#include "codegen/kernel/linux_kernel.h"

#include <linux/btf.h>

#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "codegen/kernel/loader.h"
#include "codegen/kernel/objects.h"

namespace nfbpf::codegen::kernel {
namespace {

using emit::Reg;

TEST(LinuxKernelObjects, ArrayPerCpuHashMaps) {
  LinuxKernel k;
  auto arr = Map::create(k, {.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 4, .name = "arr"});
  ASSERT_TRUE(arr.has_value()) << arr.error().describe();
  uint32_t key = 3;
  uint64_t v = 77, out = 0;
  ASSERT_TRUE(arr->update(&key, &v).has_value());
  ASSERT_TRUE(arr->lookup(&key, &out).has_value());
  EXPECT_EQ(out, 77u);
  key = 4;
  EXPECT_FALSE(arr->update(&key, &v).has_value());

  auto pc = Map::create(k, {.type = BPF_MAP_TYPE_PERCPU_ARRAY, .key_size = 4, .value_size = 12, .max_entries = 1, .name = "pc"});
  ASSERT_TRUE(pc.has_value());
  EXPECT_EQ(pc->value_bytes(), 16u * static_cast<size_t>(*k.possible_cpus()));
  std::vector<uint8_t> vals(pc->value_bytes(), 0xab);
  key = 0;
  ASSERT_TRUE(pc->update(&key, vals.data()).has_value());
  std::vector<uint8_t> back(pc->value_bytes());
  ASSERT_TRUE(pc->lookup(&key, back.data()).has_value());
  EXPECT_EQ(back[0], 0xab);
  EXPECT_EQ(back[16 * (*k.possible_cpus() - 1) + 11], 0xab);

  auto h = Map::create(k, {.type = BPF_MAP_TYPE_HASH, .key_size = 4, .value_size = 4, .max_entries = 8, .name = "h"});
  ASSERT_TRUE(h.has_value());
  uint32_t hk = 0x0a000001, hv = 5, hout = 0;
  EXPECT_EQ(h->lookup(&hk, &hout).error().err, ENOENT);
  ASSERT_TRUE(h->update(&hk, &hv, BPF_NOEXIST).has_value());
  EXPECT_EQ(h->update(&hk, &hv, BPF_NOEXIST).error().err, EEXIST);
  ASSERT_TRUE(h->lookup(&hk, &hout).has_value());
  EXPECT_EQ(hout, 5u);
  ASSERT_TRUE(h->remove(&hk).has_value());
  EXPECT_EQ(h->remove(&hk).error().err, ENOENT);
}

TEST(LinuxKernelObjects, LpmTrieLongestPrefix) {
  LinuxKernel k;
  struct Key {
    uint32_t prefixlen;
    uint8_t addr[4];
  };
  auto m = Map::create(k, {.type = BPF_MAP_TYPE_LPM_TRIE, .key_size = sizeof(Key), .value_size = 4,
                           .max_entries = 16, .flags = BPF_F_NO_PREALLOC, .name = "lpm"});
  ASSERT_TRUE(m.has_value()) << m.error().describe();
  Key k8{8, {10, 0, 0, 0}}, k24{24, {10, 1, 2, 0}};
  uint32_t v8 = 8, v24 = 24, out = 0;
  ASSERT_TRUE(m->update(&k8, &v8).has_value());
  ASSERT_TRUE(m->update(&k24, &v24).has_value());
  Key q{32, {10, 1, 2, 3}};
  ASSERT_TRUE(m->lookup(&q, &out).has_value());
  EXPECT_EQ(out, 24u);
  Key q2{32, {10, 9, 9, 9}};
  ASSERT_TRUE(m->lookup(&q2, &out).has_value());
  EXPECT_EQ(out, 8u);
  Key q3{32, {11, 0, 0, 1}};
  EXPECT_EQ(m->lookup(&q3, &out).error().err, ENOENT);
}

TEST(LinuxKernelObjects, VerifierLogIsInTheError) {
  LinuxKernel k;
  emit::Program p("bad");
  p.ldx(emit::Size::kDW, Reg::R0, Reg::R2, 0);  // r2 is uninitialised: the verifier refuses
  p.exit();
  auto prog = load_program(k, p, {.type = BPF_PROG_TYPE_XDP});
  ASSERT_FALSE(prog.has_value());
  EXPECT_EQ(prog.error().err, EACCES);
  EXPECT_NE(prog.error().msg.find("verifier log"), std::string::npos) << prog.error().msg;
  EXPECT_NE(prog.error().msg.find("R2 !read_ok"), std::string::npos) << prog.error().msg;
}

TEST(LinuxKernelObjects, LogOutCapturesTheLogOnSuccess) {
  LinuxKernel k;
  emit::Program p("ok");
  p.ret(XDP_PASS);
  std::string log;
  auto prog = load_program(k, p, {.type = BPF_PROG_TYPE_XDP, .log_level = 2, .log_out = &log});
  ASSERT_TRUE(prog.has_value()) << prog.error().describe();
  EXPECT_NE(log.find("processed 2 insns"), std::string::npos) << log;
}

TEST(LinuxKernelObjects, TestRunReturnsRetvalAndDuration) {
  LinuxKernel k;
  emit::Program p("drop");
  p.ret(XDP_DROP);
  auto prog = load_program(k, p, {.type = BPF_PROG_TYPE_XDP});
  ASSERT_TRUE(prog.has_value()) << prog.error().describe();
  std::vector<uint8_t> frame(64, 0);
  auto r = prog->test_run({.data_in = frame, .repeat = 100});
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->retval, static_cast<uint32_t>(XDP_DROP));
}

// The kernel accepts what the emitter makes of subprogram calls, gotol and direct map values.
TEST(LinuxKernelObjects, SubprogramLongJumpAndMapValueRun) {
  LinuxKernel k;
  auto cfg = Map::create(k, {.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 16, .max_entries = 1, .name = "cfg"});
  ASSERT_TRUE(cfg.has_value()) << cfg.error().describe();
  uint32_t key = 0;
  uint32_t value[4] = {0, 0, XDP_DROP, 0};
  ASSERT_TRUE(cfg->update(&key, value).has_value());

  emit::Program p("subprog");
  emit::Label sub(p), far(p), bad(p);
  p.mov(Reg::R1, 41);
  p.call_local(sub);                                 // r0 = r1 + 1
  p.jmp(emit::Cond::kNe, Reg::R0, 42, bad);
  p.jmp_long(far);
  p.bind(bad);
  p.ret(XDP_PASS);
  p.bind(far);
  p.ld_map_value(Reg::R1, p.map("cfg"), 8);
  p.ldx(emit::Size::kW, Reg::R0, Reg::R1, 0);       // value[2] = XDP_DROP
  p.exit();
  // Subprograms follow the main program: jumps may not cross into them.
  p.bind(sub);
  p.mov(Reg::R0, Reg::R1);
  p.alu(emit::AluOp::kAdd, Reg::R0, 1);
  p.exit();
  auto prog = load_program(k, p, {.type = BPF_PROG_TYPE_XDP}, {{"cfg", &*cfg}});
  ASSERT_TRUE(prog.has_value()) << prog.error().describe();
  std::vector<uint8_t> frame(64, 0);
  auto r = prog->test_run({.data_in = frame});
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  EXPECT_EQ(r->retval, static_cast<uint32_t>(XDP_DROP));
}

// jmp_far reaches over more than 32K instructions; the kernel takes it and it branches right.
TEST(LinuxKernelObjects, FarConditionalJumpsLoadAndBranch) {
  LinuxKernel k;
  for (int32_t input : {5, 6}) {
    emit::Program p("far");
    emit::Label far(p);
    p.mov(Reg::R1, input);
    p.jmp_far(emit::Cond::kEq, Reg::R1, 5, far);
    for (int i = 0; i < 40000; ++i) p.mov(Reg::R2, i);
    p.ret(XDP_PASS);
    p.bind(far);
    p.ret(XDP_DROP);
    ASSERT_TRUE(p.check().has_value()) << p.check().error().describe();
    auto prog = load_program(k, p, {.type = BPF_PROG_TYPE_XDP});
    ASSERT_TRUE(prog.has_value()) << prog.error().describe();
    std::vector<uint8_t> frame(64, 0);
    auto r = prog->test_run({.data_in = frame});
    ASSERT_TRUE(r.has_value()) << r.error().describe();
    EXPECT_EQ(r->retval, static_cast<uint32_t>(input == 5 ? XDP_DROP : XDP_PASS));
  }
}

TEST(LinuxKernelObjects, KfuncIdsComeFromVmlinuxBtf) {
  LinuxKernel k;
  for (auto f : {emit::Kfunc::kDynptrFromSkb, emit::Kfunc::kDynptrFromXdp, emit::Kfunc::kDynptrSlice,
                 emit::Kfunc::kDynptrSize, emit::Kfunc::kRdonlyCast}) {
    auto id = k.kfunc_btf_id(emit::kfunc_name(f));
    ASSERT_TRUE(id.has_value()) << id.error().describe();
    EXPECT_GT(*id, 0);
  }
  EXPECT_EQ(k.kfunc_btf_id("nfbpf_no_such_kfunc").error().err, ENOENT);
}

TEST(LinuxKernelObjects, BtfOffsetsOfKernelStructs) {
  LinuxKernel k;
  // nf_hook_state is tiny and stable: check against the hand-mirrored ABI.
  EXPECT_EQ(*k.btf_member_offset("nf_hook_state", "hook"), 0u);
  EXPECT_EQ(*k.btf_member_offset("nf_hook_state", "pf"), 1u);
  EXPECT_EQ(*k.btf_member_offset("nf_hook_state", "in"), 8u);
  EXPECT_EQ(*k.btf_member_offset("bpf_nf_ctx", "skb"), 8u);
  // sk_buff.mark sits inside an anonymous union; found through it.
  auto mark = k.btf_member_offset("sk_buff", "mark");
  ASSERT_TRUE(mark.has_value()) << mark.error().describe();
  EXPECT_GT(*mark, 0u);
  auto ifindex = k.btf_member_offset("net_device", "ifindex");
  ASSERT_TRUE(ifindex.has_value()) << ifindex.error().describe();
  EXPECT_EQ(k.btf_member_offset("sk_buff", "no_such_member").error().err, ENOENT);
  auto ct = k.btf_type_id("nf_conn", BTF_KIND_STRUCT);
  ASSERT_TRUE(ct.has_value()) << ct.error().describe();
  EXPECT_GT(*ct, 0);
}

// Pins a map and a program in a private bpffs (child process, private mount namespace) and opens
// the map again through the pin.
TEST(LinuxKernelObjects, PinInPrivateBpffs) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (unshare(CLONE_NEWNS) != 0) _exit(10);
    if (mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(11);
    char dir[] = "/tmp/nfbpf-bpffs-XXXXXX";
    if (!mkdtemp(dir)) _exit(12);
    if (mount("bpf", dir, "bpf", 0, nullptr) != 0) _exit(13);
    int rc = 0;
    {
      LinuxKernel k;
      auto m = Map::create(k, {.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 1, .name = "pinme"});
      if (!m) _exit(14);
      uint32_t key = 0, v = 1234, out = 0;
      if (!m->update(&key, &v)) _exit(15);
      std::string path = std::string(dir) + "/m";
      if (!m->pin(path)) _exit(16);
      auto fd = k.obj_get(path);
      if (!fd) _exit(17);
      if (!k.map_lookup(fd->get(), &key, &out) || out != 1234) rc = 18;
      if (m->pin(path)) rc = 19;  // pinning twice must fail (EEXIST)
    }
    umount2(dir, MNT_DETACH);
    rmdir(dir);
    _exit(rc);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace nfbpf::codegen::kernel
