// The CUDA features kernels_cuda.cu uses, emulated on the CPU, so that its kernels run (and
// are tested bit for bit against pure JAX) on a machine with no GPU: compile the .cu file
// as C++ with -DSPARK_CUDA_EMULATION (spark.native.builder.build_cuda_emulation).
//
// Why an emulation of our own: the kernels' logic (indexing, batching strides, barrier
// placement, the block scan, the order of accumulation) is what can be wrong without a GPU
// to run it on, and it is the same logic here: the kernel source is compiled unchanged; only
// launch, barriers, warp shuffles, atomics and a few runtime calls are provided below. The
// public CPU back-ends of CUDA are unmaintained (gpuocelot) or speak another dialect (HIP-CPU).
//
// How: a launch runs its blocks one after another; the kThreads threads of a block are
// fibers on the calling thread, each run until it waits at a barrier. On x86-64 a fiber
// switch is six pushes, a stack swap and six pops (below); glibc's swapcontext also saves
// the signal mask, a system call per switch, which made the tests 3x slower. Elsewhere
// ucontext is used. A block
// barrier (__syncthreads) releases when every thread of the block waits at it; a warp
// barrier (inside __shfl_up_sync) when the 32 lanes of that warp do. Anything else is a
// deadlock (a barrier some thread never reaches: divergent __syncthreads) and fails the
// launch with that message, returned by cudaGetLastError as on a GPU. Between barriers the
// fibers run in ascending thread order on even launches and descending on odd ones, so a
// missing barrier between a write and a read of another thread's data shows up in either
// direction. What it cannot show: races inside one phase (fibers never preempt each
// other, so atomics are plain additions here), the GPU memory model, timing.
//
// Launches take one process-wide lock (the block's shared memory is a function-local static
// here, one copy per kernel, and there is one scheduler); the last error is per thread.

#pragma once

#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(threads)
#define __shared__ static  // one block at a time: a static is the block's shared memory

using std::fma;
using std::max;
using std::min;
using std::nearbyint;

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// The running fiber's coordinates (set before each fiber is resumed; one launch at a time).
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

using cudaStream_t = void*;
enum cudaError_t { cudaSuccess = 0, cudaErrorLaunchFailure = 719 };
enum cudaMemcpyKind { cudaMemcpyDeviceToDevice = 3 };

#if defined(__x86_64__)
// spark_emulation_switch(&from_sp, to_sp): save the callee-saved registers on this stack,
// store the stack pointer in *from_sp, load to_sp and pop what was saved there. (A symbol
// hidden in its library: include this header in one translation unit per library.)
asm(R"(
  .text
  .p2align 4
  .hidden spark_emulation_switch
  .globl spark_emulation_switch
  .type spark_emulation_switch, @function
spark_emulation_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size spark_emulation_switch, .-spark_emulation_switch
)");
extern "C" void spark_emulation_switch(void** from_sp, void* to_sp);
#define SPARK_EMULATION_FAST_SWITCH 1
#endif

namespace spark_emulation {

enum class Wait { kNone, kBlock, kWarp, kDone };

// A saved execution context: a stack pointer (fast switch) or a ucontext.
struct Context {
#if defined(SPARK_EMULATION_FAST_SWITCH)
  void* sp = nullptr;
#else
  ucontext_t uc;
#endif
};

inline void switch_context(Context& from, Context& to) {
#if defined(SPARK_EMULATION_FAST_SWITCH)
  spark_emulation_switch(&from.sp, to.sp);
#else
  swapcontext(&from.uc, &to.uc);
#endif
}

struct Fiber {
  Context context;
  Wait wait = Wait::kNone;
};

// One block in flight: its fibers, their stacks and the warp shuffle slots.
struct Block {
  static constexpr size_t kStackBytes = 256 * 1024;
  std::vector<Fiber> fibers;
  char* stacks = nullptr;  // fibers.size() * kStackBytes, reserved once, touched lazily
  size_t stack_count = 0;
  Context scheduler;
  unsigned current = 0;
  uint64_t shuffle[1024];  // one slot per thread: the values of a __shfl_up_sync
  const std::function<void()>* body = nullptr;

  ~Block() {
    if (stacks) munmap(stacks, stack_count * kStackBytes);
  }
};

inline Block& block() {
  static Block b;
  return b;
}

inline std::mutex& launch_lock() {
  static std::mutex m;
  return m;
}

// Per calling thread, as CUDA's last error is: XLA may call two handlers at once.
inline cudaError_t& last_error() {
  thread_local cudaError_t e = cudaSuccess;
  return e;
}

inline std::string& last_message() {
  thread_local std::string m;
  return m;
}

// A fiber's first and only frame: the kernel body, then back to the scheduler for good.
inline void fiber_main() {
  Block& b = block();
  (*b.body)();
  Fiber& self = b.fibers[b.current];
  self.wait = Wait::kDone;
  switch_context(self.context, b.scheduler);  // never resumed
  __builtin_trap();
}

// A fiber that starts in fiber_main on its own stack [stack, stack + bytes).
inline void start_fiber(Fiber& f, char* stack, size_t bytes, Context& scheduler) {
#if defined(SPARK_EMULATION_FAST_SWITCH)
  (void)scheduler;
  // From the 16-byte aligned top: a zero "return address" of fiber_main (it never returns),
  // fiber_main's address for the switch's `ret`, six zero registers for its pops. At
  // fiber_main's entry the stack pointer is then 8 below a multiple of 16, as after a call.
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t{15};
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;
  *--sp = reinterpret_cast<void*>(&fiber_main);
  for (int r = 0; r < 6; ++r) *--sp = nullptr;
  f.context.sp = sp;
#else
  getcontext(&f.context.uc);
  f.context.uc.uc_stack.ss_sp = stack;
  f.context.uc.uc_stack.ss_size = bytes;
  f.context.uc.uc_link = &scheduler.uc;
  makecontext(&f.context.uc, fiber_main, 0);
#endif
}

// Give control back to the scheduler until the barrier this fiber waits at releases.
inline void wait_at(Wait kind) {
  Block& b = block();
  Fiber& self = b.fibers[b.current];
  self.wait = kind;
  switch_context(self.context, b.scheduler);
}

// Run one block of `threads` fibers to completion; "" or what went wrong.
inline std::string run_block(unsigned threads, bool descending) {
  Block& b = block();
  if (b.stack_count < threads) {
    if (b.stacks) munmap(b.stacks, b.stack_count * Block::kStackBytes);
    void* mem = mmap(nullptr, threads * Block::kStackBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return "cannot reserve the fibers' stacks";
    b.stacks = static_cast<char*>(mem);
    b.stack_count = threads;
  }
  b.fibers.assign(threads, Fiber{});
  for (unsigned i = 0; i < threads; ++i) {
    start_fiber(b.fibers[i], b.stacks + i * Block::kStackBytes, Block::kStackBytes, b.scheduler);
  }
  const unsigned warps = (threads + 31) / 32;
  for (;;) {
    for (unsigned j = 0; j < threads; ++j) {
      const unsigned i = descending ? threads - 1 - j : j;
      if (b.fibers[i].wait != Wait::kNone) continue;
      b.current = i;
      threadIdx = dim3(i);
      switch_context(b.scheduler, b.fibers[i].context);
    }
    // Every fiber now waits at a barrier or is done: release what can be released.
    unsigned done = 0, at_block = 0;
    bool released = false;
    for (const Fiber& f : b.fibers) {
      done += f.wait == Wait::kDone;
      at_block += f.wait == Wait::kBlock;
    }
    if (done == threads) return "";
    for (unsigned w = 0; w < warps; ++w) {
      const unsigned lo = w * 32, hi = std::min(threads, lo + 32);
      bool all = true;
      for (unsigned i = lo; i < hi; ++i) all &= b.fibers[i].wait == Wait::kWarp;
      if (!all) continue;
      for (unsigned i = lo; i < hi; ++i) b.fibers[i].wait = Wait::kNone;
      released = true;
    }
    if (!released && at_block == threads) {
      for (Fiber& f : b.fibers) f.wait = Wait::kNone;
      released = true;
    }
    if (!released) {
      return "deadlock: " + std::to_string(at_block) + " of " + std::to_string(threads) +
             " threads wait at __syncthreads, " + std::to_string(done) +
             " have returned, the rest wait at a warp shuffle some lane never reaches";
    }
  }
}

// kernel<<<blocks, threads>>>(...) as `body` run by every thread of every block.
inline void launch(unsigned blocks, unsigned threads, const std::function<void()>& body) {
  std::lock_guard<std::mutex> hold(launch_lock());
  static uint64_t launches = 0;
  const bool descending = (launches++ & 1) != 0;
  Block& b = block();
  b.body = &body;
  if (threads == 0 || threads > 1024) {
    last_error() = cudaErrorLaunchFailure;
    last_message() = "emulated launch: 1 to 1024 threads per block";
    return;
  }
  gridDim = dim3(blocks);
  blockDim = dim3(threads);
  for (unsigned blk = 0; blk < blocks; ++blk) {
    blockIdx = dim3(blk);
    std::string error = run_block(threads, descending);
    if (!error.empty()) {
      last_error() = cudaErrorLaunchFailure;
      last_message() = "emulated block " + std::to_string(blk) + ": " + error;
      return;
    }
  }
}

}  // namespace spark_emulation

inline void __syncthreads() { spark_emulation::wait_at(spark_emulation::Wait::kBlock); }

// Lane `lane - delta`'s value (the caller's own below delta), as the hardware does for a
// full warp. Two warp barriers: every lane has written before any reads, and has read
// before any lane's next shuffle overwrites its slot.
template <typename V>
V __shfl_up_sync(unsigned mask, V value, unsigned delta) {
  static_assert(sizeof(V) <= sizeof(uint64_t), "shuffle of at most 8 bytes");
  spark_emulation::Block& b = spark_emulation::block();
  const unsigned me = b.current, lane = me & 31;
  if (mask != 0xffffffffu) __builtin_trap();  // kernels_cuda.cu shuffles whole warps only
  std::memcpy(&b.shuffle[me], &value, sizeof(V));
  spark_emulation::wait_at(spark_emulation::Wait::kWarp);
  V out = value;
  if (lane >= delta) std::memcpy(&out, &b.shuffle[me - delta], sizeof(V));
  spark_emulation::wait_at(spark_emulation::Wait::kWarp);
  return out;
}

// Fibers never preempt each other: a read-modify-write is atomic by construction.
template <typename V>
V atomicAdd(V* address, V value) {
  const V old = *address;
  *address = old + value;
  return old;
}

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = spark_emulation::last_error();
  spark_emulation::last_error() = cudaSuccess;
  return e;
}

inline const char* cudaGetErrorString(cudaError_t error) {
  return error == cudaSuccess ? "no error" : spark_emulation::last_message().c_str();
}

inline cudaError_t cudaMemcpyAsync(void* to, const void* from, size_t bytes, cudaMemcpyKind,
                                   cudaStream_t) {
  std::memmove(to, from, bytes);
  return cudaSuccess;
}
