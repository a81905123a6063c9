// GPU kernels of the Spark engine: the five handlers of kernels.cc (spark_propagate,
// spark_lif_step, spark_lif_chunk: LIF, ALIF, AdEx and Izhikevich populations, up to four
// receptors, drives; spark_plastic_step and spark_plastic_chunk: plastic block tables,
// spike history, readout trace, three-factor update) for XLA:GPU, with the same operands,
// attributes and results, so that the engine's native path (spark/network.py) runs
// unchanged on a GPU.
//
// Compiled with -DSPARK_CUDA_EMULATION as C++ for the CPU (cuda_emulation.h), the same
// source runs on a machine without a GPU: that is how CI tests it bit for bit
// (tests/spark/test_native_gpu.py).
//
// Why one thread block per instance, running all k steps of a chunk in one launch: a paper8
// step has ~8 k neuron updates and ~4 k synaptic events, a few microseconds of work, while
// pure JAX on a GPU pays ~56 us per step in kernel launches and while-loop round trips. A
// block of 1024 threads updates the neurons, compacts the spikes and walks the synapse rows,
// with barriers between the phases; batched instances (vmap, "expand_dims") are the grid.
//
// Bit-identical to the CPU kernel and to pure JAX on the CPU, by the same rules:
//   * each ring-buffer entry accumulates in ascending presynaptic order, then row order:
//     rows are walked one after another (a barrier between two rows); within a row the
//     threads add to distinct entries. Two synapses of one row with the same target and
//     delay would race: their two additions use atomicAdd, so nothing is lost, but their
//     order is unspecified (the only case where a last-bit difference is possible);
//   * explicit fma() exactly where kernels.cc writes SPARK_FMA (XLA:CPU contracts those on
//     FMA hardware); the file is compiled with -fmad=false, so nvcc contracts nothing else.
//
// Shapes are checked on the host and a mismatch is an FFI error, as on the CPU. The contents
// of the index tables (segments, row pointers, drive columns) live in device memory and are
// trusted here: they are built by spark.network / spark.connectivity from a validated spec
// (the CPU kernel checks them too; reading them back would cost a device round trip).

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

#if defined(SPARK_CUDA_EMULATION)
// Compiled as C++ for the CPU (cuda_emulation.h): the handlers register for XLA:CPU, where
// there is no CUDA stream and no device scratch allocator; these stand in for the two.
#include "cuda_emulation.h"

namespace spark_emulation {
struct StreamContext {};
struct ScratchContext {};
class HostScratch {
 public:
  std::optional<void*> Allocate(size_t size, size_t alignment = 1) {
    blocks_.emplace_back(new char[size + alignment]);
    const uintptr_t at = reinterpret_cast<uintptr_t>(blocks_.back().get());
    return reinterpret_cast<void*>((at + alignment - 1) / alignment * alignment);
  }

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
};
}  // namespace spark_emulation

template <>
struct xla::ffi::CtxDecoding<spark_emulation::StreamContext> {
  using Type = cudaStream_t;
  static std::optional<Type> Decode(const XLA_FFI_Api*, XLA_FFI_ExecutionContext*,
                                    DiagnosticEngine&) {
    return cudaStream_t{nullptr};
  }
};

template <>
struct xla::ffi::CtxDecoding<spark_emulation::ScratchContext> {
  using Type = spark_emulation::HostScratch;
  static std::optional<Type> Decode(const XLA_FFI_Api*, XLA_FFI_ExecutionContext*,
                                    DiagnosticEngine&) {
    return spark_emulation::HostScratch();
  }
};

using StreamContext = spark_emulation::StreamContext;
using ScratchContext = spark_emulation::ScratchContext;
using DeviceScratch = spark_emulation::HostScratch;
#else
#include <cuda_runtime.h>

using StreamContext = ffi::PlatformStream<cudaStream_t>;
using ScratchContext = ffi::ScratchAllocator;
using DeviceScratch = ffi::ScratchAllocator;
#endif

#if defined(SPARK_USE_FMA)
#define SPARK_FMA(a, b, c) fma((a), (b), (c))
#else
#define SPARK_FMA(a, b, c) ((a) * (b) + (c))
#endif

#include "ffi_operands.h"
#include "pinned_exp.h"

namespace {

constexpr int kThreads = 1024;  // one block per instance; every phase strides by this
constexpr int64_t kMaxReceptors = 4;
// The parameter tables of kernels.cc (see there): float columns, the receptor columns, then
// (when the network has AdEx or Izhikevich populations) kEulerParams more; int columns.
enum FloatParam { kDecay, kVInf, kVThresh, kThetaDecay, kBeta, kVReset, kReceptorParams };
enum EulerParam { kDt, kIOffset, kA, kB, kTauM, kVRest, kVT, kDeltaT, kTauW, kEulerParams };
enum IntParam { kStart, kStop, kRefSteps, kHasSyn, kKind, kIntParams };
enum Kind { kLif, kAlif, kAdEx, kIzhikevich, kKinds };
// The plastic block tables of kernels.cc (see there): one row per complete rectangle.
enum BlockInt { kBStart, kBNPre, kBNPost, kBPre, kBPost, kBCol, kBDelay, kBReward, kBlockInts };
enum BlockFloat {
  kAPlus, kAMinus, kWMin, kWMax, kPreDecay, kPostDecay, kEligDecay, kLr, kBlockFloats
};

// ----------------------------------------------------------------- host-side operand views

template <typename T>
struct View {
  T* data;
  int64_t size;    // elements per instance
  int64_t stride;  // elements between instances (0: shared)
};

struct Shape {
  int64_t batch = 1;
  std::string error;
};

template <typename T>
View<T> view(const ffi::AnyBuffer& buf, size_t rank, Shape& shape, const char* name) {
  auto dims = buf.dimensions();
  View<T> out{reinterpret_cast<T*>(buf.untyped_data()), 1, 0};
  if (dims.size() < rank || dims.size() > rank + 1) {
    shape.error = std::string(name) + ": expected rank " + std::to_string(rank) + " or " +
                  std::to_string(rank + 1) + " (batched), got " + std::to_string(dims.size());
    return out;
  }
  size_t first = dims.size() - rank;
  for (size_t i = first; i < dims.size(); ++i) out.size *= dims[i];
  if (first == 1 && dims[0] != 1) {
    const int64_t b = dims[0];
    if (shape.batch != 1 && shape.batch != b) {
      shape.error = std::string(name) + ": batch size " + std::to_string(b) + " differs from " +
                    std::to_string(shape.batch);
    }
    shape.batch = b;
    out.stride = out.size;
  }
  return out;
}

ffi::Error invalid(const std::string& message) {
  return ffi::Error(ffi::ErrorCode::kInvalidArgument, "spark CUDA kernel: " + message);
}

ffi::Error cuda_error(cudaError_t err, const char* what) {
  return ffi::Error(ffi::ErrorCode::kInternal,
                    std::string("spark CUDA kernel: ") + what + ": " + cudaGetErrorString(err));
}

template <typename Body>
ffi::Error by_float_type(ffi::DataType type, Body&& body) {
  switch (type) {
    case ffi::DataType::F32:
      return body(float{});
    case ffi::DataType::F64:
      return body(double{});
    default:
      return invalid("state must be float32 or float64");
  }
}

// --------------------------------------------------------------------- device-side pieces

// Everything a block needs, as base pointers and per-instance strides (in elements).
template <typename T>
struct Args {
  const int32_t* t;
  int64_t t_stride;
  T *v, *g, *aux, *buf;
  int32_t* last;
  int64_t v_stride, g_stride, a_stride, l_stride, b_stride;
  const bool* inputs;
  int64_t in_stride;
  const T* fp;
  int64_t fp_stride;
  const int32_t* ip;
  int64_t ip_stride;
  const int32_t *row_ptr, *offset;
  int64_t rp_stride, off_stride;
  const T* weight;
  int64_t w_stride;
  const uint16_t* dcounts;
  const int32_t* dcols;
  const T* dweights;
  int64_t dc_stride, dcol_stride, dw_stride;
  int32_t* counts;  // per segment, or nullptr
  int64_t c_stride;
  bool* spikes;     // (steps, n) flags when recording, or nullptr
  int64_t s_stride;
  uint8_t* flags;   // scratch: (n + n_in) per instance
  int32_t* list;    // scratch: (n + n_in) per instance
  int64_t n, n_in, n_seg, size, n_cols, ring, receptor_cols, drive_steps, m, steps;
  int64_t fp_width;  // float parameter columns: base, or base + kEulerParams
};

// Exclusive prefix sum of x over the block (blockDim.x == kThreads); *total gets the sum.
__device__ int32_t block_exclusive_scan(int32_t x, int32_t* warp_sums, int32_t* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int32_t incl = x;
  for (int d = 1; d < 32; d <<= 1) {
    const int32_t y = __shfl_up_sync(0xffffffffu, incl, d);
    if (lane >= d) incl += y;
  }
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    const int32_t w = warp_sums[lane];  // kThreads / 32 == 32 warps
    int32_t wi = w;
    for (int d = 1; d < 32; d <<= 1) {
      const int32_t y = __shfl_up_sync(0xffffffffu, wi, d);
      if (lane >= d) wi += y;
    }
    warp_sums[lane] = wi - w;
    if (lane == 31) *total = wi;
  }
  __syncthreads();
  return warp_sums[warp] + incl - x;
}

// The ascending list of set flags in [0, count): each thread compacts its own contiguous
// range, at the offset the block scan gives it. Returns the list's length.
__device__ int32_t compact(const uint8_t* flags, int64_t count, int32_t* list, int32_t* warp_sums,
                           int32_t* total) {
  const int64_t per = (count + kThreads - 1) / kThreads;
  const int64_t lo = min(count, threadIdx.x * per), hi = min(count, lo + per);
  int32_t mine = 0;
  for (int64_t i = lo; i < hi; ++i) mine += flags[i];
  int32_t pos = block_exclusive_scan(mine, warp_sums, total);
  for (int64_t i = lo; i < hi; ++i) {
    if (flags[i]) list[pos++] = static_cast<int32_t>(i);
  }
  __syncthreads();
  return *total;
}

// Add the rows in `list` (ascending) into the ring buffer (row of this step at `base`), one
// row after another: entries hit by several rows take them in ascending presynaptic order.
template <typename T>
__device__ void propagate_rows(T* buf, int64_t size, int64_t base, const int32_t* row_ptr,
                               const int32_t* offset, const T* weight, const int32_t* list,
                               int32_t count) {
  for (int32_t e = 0; e < count; ++e) {
    const int32_t p = list[e];
    const int32_t end = row_ptr[p + 1];
    for (int32_t s = row_ptr[p] + threadIdx.x; s < end; s += kThreads) {
      int64_t o = base + offset[s];
      o -= (o >= size ? size : 0);
      atomicAdd(buf + o, weight[s]);
    }
    __syncthreads();
  }
}

// The plastic part of a chunk (spark_plastic_chunk) or step (spark_plastic_step): block
// tables, plastic state, spike history and readout trace, as base pointers and strides.
template <typename T>
struct PlasticArgs {
  T *w, *xp, *xq, *e;
  int64_t state_stride;  // the four state arrays share a shape
  bool* history;         // (ring, n_pre) per instance
  int64_t h_stride;
  const int32_t* ints;
  int64_t ints_stride;
  const T* floats;
  int64_t floats_stride;
  T* trace;  // (N,) per instance, or nullptr
  int64_t trace_stride;
  const T* decay;
  int64_t decay_stride;
  const T* modulator;
  int64_t mod_stride;
  int64_t n_blocks, ring, n_pre;
  bool modulate;
};

// One instance's view of PlasticArgs (base pointers of instance b).
template <typename T>
struct PlasticInstance {
  T *w, *xp, *xq, *e;
  bool* history;
  const int32_t* ints;
  const T* floats;
  T* trace;
  int64_t n_blocks, ring, n_pre;

  __device__ PlasticInstance(const PlasticArgs<T>& p, int64_t b)
      : w(p.w + b * p.state_stride), xp(p.xp + b * p.state_stride),
        xq(p.xq + b * p.state_stride), e(p.e + b * p.state_stride),
        history(p.history + b * p.h_stride), ints(p.ints + b * p.ints_stride),
        floats(p.floats + b * p.floats_stride),
        trace(p.trace ? p.trace + b * p.trace_stride : nullptr), n_blocks(p.n_blocks),
        ring(p.ring), n_pre(p.n_pre) {}

  // The history row of the presynaptic spikes that arrive at `step` through block blk.
  __device__ const bool* arrived(const int32_t* blk, int32_t step) const {
    const int64_t slot = ((static_cast<int64_t>(step) - blk[kBDelay]) % ring + ring) % ring;
    return history + slot * n_pre + blk[kBPre];
  }
};

// std::min(std::max(x, lo), hi) with the same comparisons (NaN stays NaN), as kernels.cc.
template <typename T>
__device__ T clip(T x, T lo, T hi) {
  const T up = x < lo ? lo : x;
  return hi < up ? hi : up;
}

// Every block's deliveries into this step's ring row: each thread owns columns and adds the
// block's rows to them in presynaptic order (an arrived row's weights, else +0, as
// kernels.cc's plastic_deliver); a barrier between blocks, whose columns may overlap.
template <typename T>
__device__ void plastic_deliver(const PlasticInstance<T>& p, int32_t step, T* current) {
  for (int64_t k = 0; k < p.n_blocks; ++k) {
    const int32_t* blk = p.ints + k * kBlockInts;
    const bool* arrived = p.arrived(blk, step);
    const int64_t rows = blk[kBNPre], cols = blk[kBNPost];
    const T* w = p.w + blk[kBStart];
    T* target = current + blk[kBCol];
    for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
      T acc = target[j];
      for (int64_t i = 0; i < rows; ++i) acc = acc + (arrived[i] ? w[i * cols + j] : T(0));
      target[j] = acc;
    }
    __syncthreads();
  }
}

// One entry's STDP / eligibility update: kernels.cc's update_row body, line for line, with
// whether its presynaptic spike arrived and the rule as run-time flags.
template <typename T>
__device__ void update_entry(bool delivered, bool reward, bool post_spiked, T* w, T* xp, T* xq,
                             T* e, const T* c) {
  const T a_plus = c[kAPlus], minus_a_minus = -c[kAMinus], lo = c[kWMin], hi = c[kWMax];
  T weight = *w;
  const T pre_decayed = *xp * c[kPreDecay];
  const T post_decayed = *xq * c[kPostDecay];
  T trace = *e * c[kEligDecay];
  const T pre = delivered ? pre_decayed + T(1) : pre_decayed;
  if (delivered) {
    if (reward) {
      trace = SPARK_FMA(minus_a_minus, post_decayed, trace);
    } else {
      weight = clip(SPARK_FMA(minus_a_minus, post_decayed, weight), lo, hi);
    }
  }
  *xq = post_spiked ? post_decayed + T(1) : post_decayed;
  if (reward) {
    const T potentiated = SPARK_FMA(a_plus, pre, trace);
    *e = post_spiked ? potentiated : trace;
    *w = weight;
  } else {
    const T potentiated = clip(SPARK_FMA(a_plus, pre, weight), lo, hi);
    *w = post_spiked ? potentiated : weight;
    *e = trace;
  }
  *xp = pre;
}

// Every entry of every block, with this step's neuron spikes (`spiked`, N flags): entries
// are independent, so the threads share them out whole.
template <typename T>
__device__ void plastic_update(const PlasticInstance<T>& p, int32_t step, const uint8_t* spiked) {
  for (int64_t k = 0; k < p.n_blocks; ++k) {
    const int32_t* blk = p.ints + k * kBlockInts;
    const T* c = p.floats + k * kBlockFloats;
    const bool* arrived = p.arrived(blk, step);
    const uint8_t* post = spiked + blk[kBPost];
    const bool reward = blk[kBReward] != 0;
    const int64_t cols = blk[kBNPost], entries = int64_t{blk[kBNPre]} * cols;
    for (int64_t s = threadIdx.x; s < entries; s += kThreads) {
      const int64_t i = s / cols, j = s - i * cols, r = blk[kBStart] + s;
      update_entry<T>(arrived[i], reward, post[j] != 0, p.w + r, p.xp + r, p.xq + r, p.e + r, c);
    }
  }
}

// After the neuron update of `step` (flags: the step's neuron then input spikes, complete):
// the plastic update, then the step's spikes into the history, and the readout trace
// (trace * decay + spiked), as kernels.cc's PlasticOperands::after_update.
template <typename T>
__device__ void plastic_after_update(const PlasticInstance<T>& p, int32_t step,
                                     const uint8_t* flags, int64_t n, T decay) {
  plastic_update(p, step, flags);
  __syncthreads();  // the update read history rows; a delay of `ring` steps would be this one
  bool* row = p.history + (static_cast<int64_t>(step) % p.ring) * p.n_pre;
  for (int64_t i = threadIdx.x; i < p.n_pre; i += kThreads) row[i] = flags[i] != 0;
  if (p.trace) {
    for (int64_t i = threadIdx.x; i < n; i += kThreads) {
      p.trace[i] = SPARK_FMA(p.trace[i], decay, flags[i] ? T(1) : T(0));
    }
  }
  __syncthreads();
}

// The end of a chunk: w = clip(w + lr * modulator * e) on the reward blocks.
template <typename T>
__device__ void plastic_modulate(const PlasticInstance<T>& p, T m) {
  for (int64_t k = 0; k < p.n_blocks; ++k) {
    const int32_t* blk = p.ints + k * kBlockInts;
    if (!blk[kBReward]) continue;
    const T* c = p.floats + k * kBlockFloats;
    const T scale = c[kLr] * m, lo = c[kWMin], hi = c[kWMax];
    const int64_t start = blk[kBStart], stop = start + int64_t{blk[kBNPre]} * blk[kBNPost];
    for (int64_t s = start + threadIdx.x; s < stop; s += kThreads) {
      p.w[s] = clip(SPARK_FMA(scale, p.e[s], p.w[s]), lo, hi);
    }
  }
}

// The receptor currents after the step's membrane update has read them: decay, then this
// step's deliveries (kernels.cc: update_segment's and update_euler's last loop).
template <typename T, int kR>
__device__ void take_deliveries(int64_t i, int64_t n, T* g, T* row, const T* fp,
                                int64_t receptor_cols) {
#pragma unroll
  for (int r = 0; r < kR; ++r) {
    const T g_decay = fp[kReceptorParams + receptor_cols + r];
    g[r * n + i] = SPARK_FMA(g[r * n + i], g_decay, row[(1 + r) * n + i]);
    row[(1 + r) * n + i] = T(0);
  }
}

// One LIF/ALIF neuron's update, threshold, delivery and reset: the body of kernels.cc's
// lif_loop and update_segment, line for line (same roundings, same fma).
template <typename T, int kR>
__device__ bool update_lif(int64_t i, int64_t n, int32_t step, T* v, T* g, T* aux,
                           int32_t* last, T* row, const T* fp, const int32_t* ip,
                           int64_t receptor_cols) {
  const bool syn = ip[kHasSyn] != 0, adapt = ip[kKind] == kAlif;
  const bool refractory = (step - last[i]) < ip[kRefSteps];
  const T v_old = v[i];
  T v_new = SPARK_FMA(v_old - fp[kVInf], fp[kDecay], fp[kVInf]);
  if (syn) {
#pragma unroll
    for (int r = 0; r < kR; ++r) v_new = SPARK_FMA(g[r * n + i], fp[kReceptorParams + r], v_new);
  }
  v_new = refractory ? v_old : v_new;
  const T a = adapt ? aux[i] * fp[kThetaDecay] : T(0);
  const bool spike = !refractory & (adapt ? v_new > fp[kVThresh] + a : v_new > fp[kVThresh]);
  const T delta = row[i];
  row[i] = T(0);
  v_new = refractory ? v_new : v_new + delta;
  take_deliveries<T, kR>(i, n, g, row, fp, receptor_cols);
  v[i] = spike ? fp[kVReset] : v_new;
  if (adapt) aux[i] = spike ? a + fp[kBeta] : a;
  last[i] = spike ? step : last[i];
  return spike;
}

// One AdEx or Izhikevich neuron: kernels.cc's euler_loop body, line for line (forward
// Euler with old-state right-hand sides, the old g of every receptor row, spark_exp's
// pinned exponential), then the same masking, threshold, delivery and reset.
template <typename T, int kR>
__device__ bool update_euler(int64_t i, int64_t n, int32_t step, T* v, T* g, T* aux,
                             int32_t* last, T* row, const T* fp, const T* ep,
                             const int32_t* ip, int64_t receptor_cols) {
  constexpr int kRows = kR > 0 ? kR : 1;
  const bool refractory = (step - last[i]) < ip[kRefSteps];
  const T v_old = v[i], x_old = aux[i];
  T v_new, x_new;
  if (ip[kKind] == kAdEx) {
    const T e = spark_exp::pinned_exp<T>((v_old - ep[kVT]) / ep[kDeltaT]);
    T sum = SPARK_FMA(ep[kDeltaT], e, ep[kVRest] - v_old);
    sum = (sum - x_old) + ep[kIOffset];
#pragma unroll
    for (int r = 0; r < kRows; ++r) sum = sum + g[r * n + i];
    const T dv = sum / ep[kTauM];
    const T dw = SPARK_FMA(ep[kA], v_old - ep[kVRest], -x_old) / ep[kTauW];
    v_new = SPARK_FMA(ep[kDt], dv, v_old);
    x_new = SPARK_FMA(ep[kDt], dw, x_old);
  } else {
    T sum = SPARK_FMA(T(5.0), v_old, (T(0.04) * v_old) * v_old);
    sum = ((sum + T(140.0)) - x_old) + ep[kIOffset];
#pragma unroll
    for (int r = 0; r < kRows; ++r) sum = sum + g[r * n + i];
    const T du = ep[kA] * SPARK_FMA(ep[kB], v_old, -x_old);
    v_new = SPARK_FMA(ep[kDt], sum, v_old);
    x_new = SPARK_FMA(ep[kDt], du, x_old);
  }
  v_new = refractory ? v_old : v_new;
  const bool spike = !refractory & (v_new > fp[kVThresh]);
  const T delta = row[i];
  row[i] = T(0);
  v_new = refractory ? v_new : v_new + delta;
  take_deliveries<T, kR>(i, n, g, row, fp, receptor_cols);
  v[i] = spike ? fp[kVReset] : v_new;
  aux[i] = spike ? x_new + fp[kBeta] : x_new;
  last[i] = spike ? step : last[i];
  return spike;
}

// `steps` fused LIF/ALIF/AdEx/Izhikevich steps of instance blockIdx.x (spark_lif_chunk;
// spark_lif_step is the same with steps == 1 and the flags written to `spikes`; with
// kPlastic, spark_plastic_chunk: the plastic phase inside every step, in kernels.cc's
// order: plastic deliveries, drives, neuron update, plastic update / history / trace,
// propagation; the three-factor update at the end).
template <typename T, int kR, bool kPlastic>
__global__ void __launch_bounds__(kThreads) lif_steps_kernel(Args<T> a, PlasticArgs<T> pa) {
  __shared__ int32_t warp_sums[32];
  __shared__ int32_t total;
  const int64_t b = blockIdx.x;
  T* v = a.v + b * a.v_stride;
  T* g = a.g + b * a.g_stride;
  T* aux = a.aux + b * a.a_stride;
  T* buf = a.buf + b * a.b_stride;
  int32_t* last = a.last + b * a.l_stride;
  const bool* inputs = a.inputs + b * a.in_stride;
  const T* fp = a.fp + b * a.fp_stride;
  const int32_t* ip = a.ip + b * a.ip_stride;
  const int32_t* row_ptr = a.row_ptr + b * a.rp_stride;
  const int32_t* offset = a.offset + b * a.off_stride;
  const T* weight = a.weight + b * a.w_stride;
  int32_t* counts = a.counts ? a.counts + b * a.c_stride : nullptr;
  bool* spikes = a.spikes ? a.spikes + b * a.s_stride : nullptr;
  const int64_t n = a.n, pre = a.n + a.n_in;
  uint8_t* flags = a.flags + b * pre;
  int32_t* list = a.list + b * pre;
  const int64_t width = a.fp_width, euler = kReceptorParams + 2 * a.receptor_cols;
  const int32_t t0 = a.t[b * a.t_stride];
  if (counts) {
    for (int64_t s = threadIdx.x; s < a.n_seg; s += kThreads) counts[s] = 0;
  }
  // This thread's neurons: a contiguous range (its spikes come out ascending), and the
  // population ("segment") its first neuron belongs to.
  const int64_t per = (n + kThreads - 1) / kThreads;
  const int64_t lo = min(n, threadIdx.x * per), hi = min(n, lo + per);
  int64_t seg0 = 0;
  while (seg0 + 1 < a.n_seg && lo >= ip[seg0 * kIntParams + kStop]) ++seg0;
  __syncthreads();
  for (int64_t k = 0; k < a.steps; ++k) {
    const int32_t step = t0 + static_cast<int32_t>(k);
    const int64_t base = (static_cast<int64_t>(step) % a.ring) * a.n_cols;
    T* row = buf + base;
    if (kPlastic) plastic_deliver(PlasticInstance<T>(pa, b), step, row);
    if (step >= 0 && step < a.drive_steps) {
      // This step's drive arrivals join the ring row before the update reads it
      // (columns are distinct: the engine fuses only then), as `w * count` then `+`.
      const uint16_t* dc = a.dcounts + b * a.dc_stride + static_cast<int64_t>(step) * a.m;
      const int32_t* cols = a.dcols + b * a.dcol_stride;
      const T* w = a.dweights + b * a.dw_stride;
      for (int64_t j = threadIdx.x; j < a.m; j += kThreads) {
        if (dc[j]) row[cols[j]] += w[j] * static_cast<T>(dc[j]);
      }
      __syncthreads();
    }
    int64_t seg = seg0;
    for (int64_t i = lo; i < hi; ++i) {
      while (i >= ip[seg * kIntParams + kStop]) ++seg;
      const T* fs = fp + seg * width;
      const int32_t* is = ip + seg * kIntParams;
      const bool s = is[kKind] >= kAdEx
                         ? update_euler<T, kR>(i, n, step, v, g, aux, last, row, fs, fs + euler,
                                               is, a.receptor_cols)
                         : update_lif<T, kR>(i, n, step, v, g, aux, last, row, fs, is,
                                             a.receptor_cols);
      flags[i] = s;
      if (spikes) spikes[k * n + i] = s;
      if (s && counts) atomicAdd(counts + seg, 1);
    }
    const bool* in_row = inputs + k * a.n_in;
    for (int64_t j = threadIdx.x; j < a.n_in; j += kThreads) flags[n + j] = in_row[j];
    __syncthreads();
    if (kPlastic) {
      plastic_after_update(PlasticInstance<T>(pa, b), step, flags, n,
                           pa.trace ? pa.decay[b * pa.decay_stride] : T(0));
    }
    const int32_t count = compact(flags, pre, list, warp_sums, &total);
    propagate_rows<T>(buf, a.size, base, row_ptr, offset, weight, list, count);
    __syncthreads();
  }
  if (kPlastic && pa.modulate) {
    plastic_modulate(PlasticInstance<T>(pa, b), pa.modulator[b * pa.mod_stride]);
  }
}

// spark_plastic_step: one step's plastic phase of instance blockIdx.x: deliveries into
// `current` (this step's ring row), then the update with this step's neuron spikes.
template <typename T>
__global__ void __launch_bounds__(kThreads) plastic_step_kernel(PlasticArgs<T> pa, T* current,
                                                                int64_t cur_stride,
                                                                const bool* spikes,
                                                                int64_t s_stride,
                                                                const int32_t* t,
                                                                int64_t t_stride) {
  const int64_t b = blockIdx.x;
  const PlasticInstance<T> p(pa, b);
  const int32_t step = t[b * t_stride];
  plastic_deliver(p, step, current + b * cur_stride);
  plastic_update(p, step, reinterpret_cast<const uint8_t*>(spikes + b * s_stride));
}

// spark_propagate: the given flags' rows of step t into the ring buffer.
template <typename T>
__global__ void __launch_bounds__(kThreads) propagate_kernel(
    T* buf, int64_t b_stride, const bool* spikes, int64_t s_stride, const int32_t* t,
    int64_t t_stride, const int32_t* row_ptr, int64_t rp_stride, const int32_t* offset,
    int64_t off_stride, const T* weight, int64_t w_stride, uint8_t* flags, int32_t* list,
    int64_t n_pre, int64_t ring, int64_t n_cols) {
  __shared__ int32_t warp_sums[32];
  __shared__ int32_t total;
  const int64_t b = blockIdx.x;
  const bool* spk = spikes + b * s_stride;
  uint8_t* fl = flags + b * n_pre;
  int32_t* ls = list + b * n_pre;
  for (int64_t i = threadIdx.x; i < n_pre; i += kThreads) fl[i] = spk[i];
  __syncthreads();
  const int32_t count = compact(fl, n_pre, ls, warp_sums, &total);
  const int64_t base = (static_cast<int64_t>(t[b * t_stride]) % ring) * n_cols;
  propagate_rows<T>(buf + b * b_stride, ring * n_cols, base, row_ptr + b * rp_stride,
                    offset + b * off_stride, weight + b * w_stride, ls, count);
}

// ------------------------------------------------------------------------------ handlers

// kernel<<<blocks, kThreads, 0, stream>>>(args...), or its emulation on the CPU.
template <typename... Params, typename... Values>
void launch(void (*kernel)(Params...), unsigned blocks, cudaStream_t stream, Values... values) {
#if defined(SPARK_CUDA_EMULATION)
  (void)stream;
  spark_emulation::launch(blocks, kThreads, [&] { kernel(values...); });
#else
  kernel<<<blocks, kThreads, 0, stream>>>(values...);
#endif
}

// Scratch of (n_pre flags + n_pre int32 indices) per instance.
struct Scratch {
  uint8_t* flags = nullptr;
  int32_t* list = nullptr;
};

std::optional<Scratch> scratch_for(DeviceScratch& alloc, int64_t batch, int64_t n_pre) {
  const size_t list_bytes = sizeof(int32_t) * batch * n_pre;
  const size_t flag_bytes = batch * n_pre;
  auto mem = alloc.Allocate(list_bytes + flag_bytes + 16, 16);
  if (!mem.has_value()) return std::nullopt;
  Scratch s;
  s.list = static_cast<int32_t*>(*mem);
  s.flags = reinterpret_cast<uint8_t*>(s.list) + list_bytes;
  return s;
}

// Outputs that are not aliased to their inputs get the inputs copied first.
cudaError_t copy_if_distinct(cudaStream_t stream, void* out, const void* in, size_t bytes) {
  if (out == in || bytes == 0) return cudaSuccess;
  return cudaMemcpyAsync(out, in, bytes, cudaMemcpyDeviceToDevice, stream);
}

template <typename T>
size_t whole(const View<T>& x, int64_t batch) {
  return sizeof(T) * x.size * (x.stride ? batch : 1);
}

// One operand's copy into its result (skipped when XLA aliased the two).
struct Copy {
  void* out;
  const void* in;
  bool same_batching;  // operand and result both per instance, or both shared
  size_t bytes;
};

template <typename T>
Copy copy_of(const View<T>& out, const View<T>& in, int64_t batch) {
  return {out.data, in.data, out.stride == in.stride, whole(in, batch)};
}

// Every operand copied into its result unless XLA aliased the two (with donation they are,
// and nothing is copied). An operand batched differently from its result cannot occur,
// since the engine stacks the state per instance: refused before anything is copied.
ffi::Error copy_into_results(cudaStream_t stream, const Copy* copies, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const Copy& c = copies[i];
    if (c.out != c.in && !c.same_batching) {
      return invalid("state operands and results differ in batching");
    }
  }
  for (size_t i = 0; i < count; ++i) {
    const Copy& c = copies[i];
    if (cudaError_t err = copy_if_distinct(stream, c.out, c.in, c.bytes)) {
      return cuda_error(err, "copying the state");
    }
  }
  return ffi::Error::Success();
}

// The plastic operands and results of spark_plastic_chunk, as its handler receives them.
struct PlasticBuffers {
  ffi::AnyBuffer w, xp, xq, e, history, bint, bfloat, trace, decay, modulator;
  ffi::Result<ffi::AnyBuffer> *w_out, *xp_out, *xq_out, *e_out, *history_out, *trace_out;
  bool modulate;
};

// The plastic operands as device pointers and strides, their shapes checked against the
// network's (N neurons, n_in inputs, ring, n_cols) as kernels.cc's PlasticOperands::check
// does; the block tables' contents are trusted on the device (see the top of this file).
// The results' copies from their operands join `copies`. "" or what is wrong.
template <typename T>
std::string plastic_views(const PlasticBuffers& pb, Shape& sh, int64_t n, int64_t n_in,
                          int64_t ring, PlasticArgs<T>& pa, std::vector<Copy>& copies) {
  auto w_i = view<T>(pb.w, 1, sh, "weight");
  auto xp_i = view<T>(pb.xp, 1, sh, "x_pre");
  auto xq_i = view<T>(pb.xq, 1, sh, "x_post");
  auto e_i = view<T>(pb.e, 1, sh, "elig");
  auto h_i = view<bool>(pb.history, 2, sh, "history");
  auto ints = view<int32_t>(pb.bint, 2, sh, "block table (int)");
  auto floats = view<T>(pb.bfloat, 2, sh, "block table (float)");
  auto tr_i = view<T>(pb.trace, 1, sh, "trace");
  auto decay = view<T>(pb.decay, 0, sh, "readout decay");
  auto mod = view<T>(pb.modulator, 0, sh, "modulator");
  auto w_o = view<T>(**pb.w_out, 1, sh, "weight (result)");
  auto xp_o = view<T>(**pb.xp_out, 1, sh, "x_pre (result)");
  auto xq_o = view<T>(**pb.xq_out, 1, sh, "x_post (result)");
  auto e_o = view<T>(**pb.e_out, 1, sh, "elig (result)");
  auto h_o = view<bool>(**pb.history_out, 2, sh, "history (result)");
  auto tr_o = view<T>(**pb.trace_out, 1, sh, "trace (result)");
  if (!sh.error.empty()) return sh.error;
  const int64_t size = w_i.size, n_pre = n + n_in, n_blocks = ints.size / kBlockInts;
  if (xp_i.size != size || xq_i.size != size || e_i.size != size) {
    return "plastic state arrays differ in length";
  }
  if (ints.size % kBlockInts || floats.size != n_blocks * kBlockFloats) {
    return "block tables must be (blocks, 8) int32 and (blocks, 8) float";
  }
  auto hdims = pb.history.dimensions();
  if (hdims.size() < 2 || hdims[hdims.size() - 2] != ring || hdims[hdims.size() - 1] != n_pre) {
    return "history must be (ring, N + n_inputs)";
  }
  if (tr_i.size != 0 && tr_i.size != n) return "the readout trace must have N entries (or none)";
  if (mod.size != 1) return "the modulator must be one number";
  const int64_t batch = sh.batch;
  copies.push_back(copy_of(w_o, w_i, batch));
  copies.push_back(copy_of(xp_o, xp_i, batch));
  copies.push_back(copy_of(xq_o, xq_i, batch));
  copies.push_back(copy_of(e_o, e_i, batch));
  copies.push_back(copy_of(h_o, h_i, batch));
  copies.push_back(copy_of(tr_o, tr_i, batch));
  pa.w = w_o.data;
  pa.xp = xp_o.data;
  pa.xq = xq_o.data;
  pa.e = e_o.data;
  pa.state_stride = w_o.stride;
  pa.history = h_o.data;
  pa.h_stride = h_o.stride;
  pa.ints = ints.data;
  pa.ints_stride = ints.stride;
  pa.floats = floats.data;
  pa.floats_stride = floats.stride;
  pa.trace = tr_o.size ? tr_o.data : nullptr;
  pa.trace_stride = tr_o.stride;
  pa.decay = decay.data;
  pa.decay_stride = decay.stride;
  pa.modulator = mod.data;
  pa.mod_stride = mod.stride;
  pa.n_blocks = n_blocks;
  pa.ring = ring;
  pa.n_pre = n_pre;
  pa.modulate = pb.modulate;
  return "";
}

template <typename T, bool kPlastic>
void launch_steps(int64_t receptors, unsigned grid, cudaStream_t stream, const Args<T>& a,
                  const PlasticArgs<T>& pa) {
  switch (receptors) {
    case 0: return launch(lif_steps_kernel<T, 0, kPlastic>, grid, stream, a, pa);
    case 1: return launch(lif_steps_kernel<T, 1, kPlastic>, grid, stream, a, pa);
    case 2: return launch(lif_steps_kernel<T, 2, kPlastic>, grid, stream, a, pa);
    case 3: return launch(lif_steps_kernel<T, 3, kPlastic>, grid, stream, a, pa);
    default: return launch(lif_steps_kernel<T, 4, kPlastic>, grid, stream, a, pa);
  }
}

template <typename T>
ffi::Error lif_impl(cudaStream_t stream, DeviceScratch& alloc, ffi::AnyBuffer t,
                    ffi::AnyBuffer v, ffi::AnyBuffer g, ffi::AnyBuffer aux, ffi::AnyBuffer last,
                    ffi::AnyBuffer buf, ffi::AnyBuffer inputs, ffi::AnyBuffer fparams,
                    ffi::AnyBuffer iparams, ffi::AnyBuffer row_ptr, ffi::AnyBuffer offset,
                    ffi::AnyBuffer weight, ffi::AnyBuffer dcounts, ffi::AnyBuffer dcols,
                    ffi::AnyBuffer dweights, ffi::Result<ffi::AnyBuffer>& v_out,
                    ffi::Result<ffi::AnyBuffer>& g_out, ffi::Result<ffi::AnyBuffer>& aux_out,
                    ffi::Result<ffi::AnyBuffer>& last_out, ffi::Result<ffi::AnyBuffer>& buf_out,
                    int32_t* counts_data, View<bool>* spikes, size_t input_rank, int64_t steps,
                    int64_t ring, int64_t n_cols, int64_t n_segments_expected,
                    const PlasticBuffers* plastic = nullptr) {
  Shape sh;
  auto t_v = view<int32_t>(t, 0, sh, "t");
  auto v_i = view<T>(v, 1, sh, "v");
  auto g_i = view<T>(g, 1, sh, "g");
  auto a_i = view<T>(aux, 1, sh, "aux");
  auto l_i = view<int32_t>(last, 1, sh, "lastspike");
  auto b_i = view<T>(buf, 1, sh, "buffer");
  auto in = view<bool>(inputs, input_rank, sh, "input spikes");
  auto fp = view<T>(fparams, 2, sh, "float parameters");
  auto ip = view<int32_t>(iparams, 2, sh, "int parameters");
  auto rp = view<int32_t>(row_ptr, 1, sh, "row_ptr");
  auto off = view<int32_t>(offset, 1, sh, "offsets");
  auto w = view<T>(weight, 1, sh, "weights");
  auto dc = view<uint16_t>(dcounts, 2, sh, "drive counts");
  auto dcol = view<int32_t>(dcols, 1, sh, "drive columns");
  auto dw = view<T>(dweights, 1, sh, "drive weights");
  auto v_o = view<T>(*v_out, 1, sh, "v (result)");
  auto g_o = view<T>(*g_out, 1, sh, "g (result)");
  auto a_o = view<T>(*aux_out, 1, sh, "aux (result)");
  auto l_o = view<int32_t>(*last_out, 1, sh, "lastspike (result)");
  auto b_o = view<T>(*buf_out, 1, sh, "buffer (result)");
  if (!sh.error.empty()) return invalid(sh.error);
  const int64_t n = v_i.size, size = ring * n_cols;
  if (steps < 1 || in.size % steps) return invalid("input spikes do not divide into steps");
  const int64_t n_in = in.size / steps;
  if (n < 1 || n_cols % n) return invalid("n_cols must be a multiple of N");
  const int64_t receptors = n_cols / n - 1;
  if (receptors > kMaxReceptors) return invalid("at most 4 receptors per neuron");
  const int64_t rc = std::max<int64_t>(receptors, 1);
  if (g_i.size != rc * n || a_i.size != n || l_i.size != n) {
    return invalid("state arrays differ in length (g must be max(R, 1) * N)");
  }
  if (b_i.size != size || b_o.size != size) return invalid("buffer size != ring * n_cols");
  if (rp.size != n + n_in + 1) return invalid("row_ptr must have N + n_inputs + 1 entries");
  if (off.size != w.size) return invalid("offsets and weights differ in length");
  const int64_t m = dcol.size;
  if (dw.size != m || (m && dc.size % m)) {
    return invalid("drive counts, columns and weights differ in length");
  }
  const int64_t n_seg = ip.size / kIntParams;
  const int64_t base = kReceptorParams + 2 * rc, width = n_seg ? fp.size / n_seg : 0;
  if (ip.size % kIntParams || fp.size != n_seg * width ||
      (width != base && width != base + kEulerParams)) {
    return invalid("parameter tables must be (segments, 6 + 2 max(R, 1) [+ 9]) float and "
                   "(segments, 5) int32");
  }
  if (n_segments_expected >= 0 && n_segments_expected != n_seg) {
    return invalid("counts must have one entry per segment");
  }
  if (spikes && spikes->size != 0 && spikes->size != steps * n) {
    return invalid("spikes must be (k, N) or (0, N)");
  }
  const int64_t batch = sh.batch;
  if (batch > 2147483647) return invalid("too many instances");
  std::vector<Copy> copies = {copy_of(v_o, v_i, batch), copy_of(g_o, g_i, batch),
                              copy_of(a_o, a_i, batch), copy_of(l_o, l_i, batch),
                              copy_of(b_o, b_i, batch)};
  PlasticArgs<T> pa{};
  if (plastic) {
    std::string error = plastic_views<T>(*plastic, sh, n, n_in, ring, pa, copies);
    if (!error.empty()) return invalid(error);
  }
  if (ffi::Error err = copy_into_results(stream, copies.data(), copies.size());
      err.failure()) {
    return err;
  }
  auto scratch = scratch_for(alloc, batch, n + n_in);
  if (!scratch) return ffi::Error(ffi::ErrorCode::kResourceExhausted, "spark CUDA kernel: scratch");
  Args<T> a{};
  a.t = t_v.data;
  a.t_stride = t_v.stride;
  a.v = v_o.data;
  a.g = g_o.data;
  a.aux = a_o.data;
  a.buf = b_o.data;
  a.last = l_o.data;
  a.v_stride = v_o.stride;
  a.g_stride = g_o.stride;
  a.a_stride = a_o.stride;
  a.l_stride = l_o.stride;
  a.b_stride = b_o.stride;
  a.inputs = in.data;
  a.in_stride = in.stride;
  a.fp = fp.data;
  a.fp_stride = fp.stride;
  a.ip = ip.data;
  a.ip_stride = ip.stride;
  a.row_ptr = rp.data;
  a.rp_stride = rp.stride;
  a.offset = off.data;
  a.off_stride = off.stride;
  a.weight = w.data;
  a.w_stride = w.stride;
  a.dcounts = dc.data;
  a.dcols = dcol.data;
  a.dweights = dw.data;
  a.dc_stride = dc.stride;
  a.dcol_stride = dcol.stride;
  a.dw_stride = dw.stride;
  a.counts = counts_data;
  a.c_stride = n_seg;  // counts are (B, S) or (S,): batched results always carry B
  a.spikes = (spikes && spikes->size) ? spikes->data : nullptr;
  a.s_stride = spikes ? spikes->size : 0;
  a.flags = scratch->flags;
  a.list = scratch->list;
  a.n = n;
  a.n_in = n_in;
  a.n_seg = n_seg;
  a.size = size;
  a.n_cols = n_cols;
  a.ring = ring;
  a.receptor_cols = rc;
  a.drive_steps = m ? dc.size / m : 0;
  a.m = m;
  a.steps = steps;
  a.fp_width = width;
  const unsigned grid = static_cast<unsigned>(batch);
  if (plastic) {
    launch_steps<T, true>(receptors, grid, stream, a, pa);
  } else {
    launch_steps<T, false>(receptors, grid, stream, a, pa);
  }
  if (cudaError_t err = cudaGetLastError()) return cuda_error(err, "launching the step kernel");
  return ffi::Error::Success();
}

ffi::Error lif_chunk(cudaStream_t stream, DeviceScratch alloc, ffi::AnyBuffer t,
                     ffi::AnyBuffer v, ffi::AnyBuffer g, ffi::AnyBuffer aux, ffi::AnyBuffer last,
                     ffi::AnyBuffer buf, ffi::AnyBuffer inputs, ffi::AnyBuffer fparams,
                     ffi::AnyBuffer iparams, ffi::AnyBuffer row_ptr, ffi::AnyBuffer offset,
                     ffi::AnyBuffer weight, ffi::AnyBuffer dcounts, ffi::AnyBuffer dcols,
                     ffi::AnyBuffer dweights, ffi::Result<ffi::AnyBuffer> v_out,
                     ffi::Result<ffi::AnyBuffer> g_out, ffi::Result<ffi::AnyBuffer> aux_out,
                     ffi::Result<ffi::AnyBuffer> last_out, ffi::Result<ffi::AnyBuffer> buf_out,
                     ffi::Result<ffi::AnyBuffer> counts_out,
                     ffi::Result<ffi::AnyBuffer> spikes_out, int64_t ring, int64_t n_cols,
                     int64_t /*threads: the CPU kernel's; a GPU runs every instance at once*/) {
  auto dims = inputs.dimensions();
  const int64_t steps = dims.size() >= 2 ? dims[dims.size() - 2] : 0;
  Shape sh;
  auto counts = view<int32_t>(*counts_out, 1, sh, "counts (result)");
  auto spikes = view<bool>(*spikes_out, 2, sh, "spikes (result)");
  if (!sh.error.empty()) return invalid(sh.error);
  return by_float_type(v.element_type(), [&](auto zero) {
    return lif_impl<decltype(zero)>(stream, alloc, t, v, g, aux, last, buf, inputs, fparams,
                                    iparams, row_ptr, offset, weight, dcounts, dcols, dweights,
                                    v_out, g_out, aux_out, last_out, buf_out, counts.data,
                                    &spikes, 2, steps, ring, n_cols, counts.size);
  });
}

ffi::Error lif_step(cudaStream_t stream, DeviceScratch alloc, ffi::AnyBuffer t,
                    ffi::AnyBuffer v, ffi::AnyBuffer g, ffi::AnyBuffer aux, ffi::AnyBuffer last,
                    ffi::AnyBuffer buf, ffi::AnyBuffer inputs, ffi::AnyBuffer fparams,
                    ffi::AnyBuffer iparams, ffi::AnyBuffer row_ptr, ffi::AnyBuffer offset,
                    ffi::AnyBuffer weight, ffi::AnyBuffer dcounts, ffi::AnyBuffer dcols,
                    ffi::AnyBuffer dweights, ffi::Result<ffi::AnyBuffer> v_out,
                    ffi::Result<ffi::AnyBuffer> g_out, ffi::Result<ffi::AnyBuffer> aux_out,
                    ffi::Result<ffi::AnyBuffer> last_out, ffi::Result<ffi::AnyBuffer> buf_out,
                    ffi::Result<ffi::AnyBuffer> spiked_out, int64_t ring, int64_t n_cols) {
  Shape sh;
  auto spiked = view<bool>(*spiked_out, 1, sh, "spiked (result)");
  if (!sh.error.empty()) return invalid(sh.error);
  if (spiked.size != v.dimensions()[v.dimensions().size() - 1]) {
    return invalid("spiked must have N entries");
  }
  return by_float_type(v.element_type(), [&](auto zero) {
    return lif_impl<decltype(zero)>(stream, alloc, t, v, g, aux, last, buf, inputs, fparams,
                                    iparams, row_ptr, offset, weight, dcounts, dcols, dweights,
                                    v_out, g_out, aux_out, last_out, buf_out, nullptr, &spiked,
                                    1, 1, ring, n_cols, -1);
  });
}

// spark_plastic_chunk: spark_lif_chunk with the plastic phase in every step.
ffi::Error plastic_chunk(
    cudaStream_t stream, DeviceScratch alloc, ffi::AnyBuffer t, ffi::AnyBuffer v,
    ffi::AnyBuffer g, ffi::AnyBuffer aux, ffi::AnyBuffer last, ffi::AnyBuffer buf,
    ffi::AnyBuffer inputs, ffi::AnyBuffer fparams, ffi::AnyBuffer iparams,
    ffi::AnyBuffer row_ptr, ffi::AnyBuffer offset, ffi::AnyBuffer weight,
    ffi::AnyBuffer dcounts, ffi::AnyBuffer dcols, ffi::AnyBuffer dweights,
    ffi::Result<ffi::AnyBuffer> v_out, ffi::Result<ffi::AnyBuffer> g_out,
    ffi::Result<ffi::AnyBuffer> aux_out, ffi::Result<ffi::AnyBuffer> last_out,
    ffi::Result<ffi::AnyBuffer> buf_out, ffi::AnyBuffer w, ffi::AnyBuffer xp, ffi::AnyBuffer xq,
    ffi::AnyBuffer e, ffi::AnyBuffer history, ffi::AnyBuffer bint, ffi::AnyBuffer bfloat,
    ffi::AnyBuffer trace, ffi::AnyBuffer decay, ffi::AnyBuffer modulator,
    ffi::Result<ffi::AnyBuffer> counts_out, ffi::Result<ffi::AnyBuffer> spikes_out,
    ffi::Result<ffi::AnyBuffer> w_out, ffi::Result<ffi::AnyBuffer> xp_out,
    ffi::Result<ffi::AnyBuffer> xq_out, ffi::Result<ffi::AnyBuffer> e_out,
    ffi::Result<ffi::AnyBuffer> history_out, ffi::Result<ffi::AnyBuffer> trace_out, int64_t ring,
    int64_t n_cols, int64_t /*threads*/, int64_t modulate) {
  auto dims = inputs.dimensions();
  const int64_t steps = dims.size() >= 2 ? dims[dims.size() - 2] : 0;
  Shape sh;
  auto counts = view<int32_t>(*counts_out, 1, sh, "counts (result)");
  auto spikes = view<bool>(*spikes_out, 2, sh, "spikes (result)");
  if (!sh.error.empty()) return invalid(sh.error);
  const PlasticBuffers pb{w, xp, xq, e, history, bint, bfloat, trace, decay, modulator,
                          &w_out, &xp_out, &xq_out, &e_out, &history_out, &trace_out,
                          modulate != 0};
  return by_float_type(v.element_type(), [&](auto zero) {
    return lif_impl<decltype(zero)>(stream, alloc, t, v, g, aux, last, buf, inputs, fparams,
                                    iparams, row_ptr, offset, weight, dcounts, dcols, dweights,
                                    v_out, g_out, aux_out, last_out, buf_out, counts.data,
                                    &spikes, 2, steps, ring, n_cols, counts.size, &pb);
  });
}

// spark_plastic_step: the plastic phase of one step (deliveries into `current`, then the
// update with this step's spikes), the scan path's call where the neurons are not fused.
template <typename T>
ffi::Error plastic_step_impl(cudaStream_t stream, ffi::AnyBuffer w_in, ffi::AnyBuffer xp_in,
                             ffi::AnyBuffer xq_in, ffi::AnyBuffer e_in,
                             ffi::AnyBuffer history_in, ffi::AnyBuffer spikes_in,
                             ffi::AnyBuffer t_in, ffi::AnyBuffer current_in,
                             ffi::AnyBuffer bint_in, ffi::AnyBuffer bfloat_in,
                             ffi::Result<ffi::AnyBuffer>& w_out,
                             ffi::Result<ffi::AnyBuffer>& xp_out,
                             ffi::Result<ffi::AnyBuffer>& xq_out,
                             ffi::Result<ffi::AnyBuffer>& e_out,
                             ffi::Result<ffi::AnyBuffer>& current_out) {
  Shape sh;
  auto w_i = view<T>(w_in, 1, sh, "weight");
  auto xp_i = view<T>(xp_in, 1, sh, "x_pre");
  auto xq_i = view<T>(xq_in, 1, sh, "x_post");
  auto e_i = view<T>(e_in, 1, sh, "elig");
  auto history = view<bool>(history_in, 2, sh, "history");
  auto spikes = view<bool>(spikes_in, 1, sh, "spikes");
  auto t = view<int32_t>(t_in, 0, sh, "t");
  auto cur_i = view<T>(current_in, 1, sh, "current");
  auto ints = view<int32_t>(bint_in, 2, sh, "block table (int)");
  auto floats = view<T>(bfloat_in, 2, sh, "block table (float)");
  auto w_o = view<T>(*w_out, 1, sh, "weight (result)");
  auto xp_o = view<T>(*xp_out, 1, sh, "x_pre (result)");
  auto xq_o = view<T>(*xq_out, 1, sh, "x_post (result)");
  auto e_o = view<T>(*e_out, 1, sh, "elig (result)");
  auto cur_o = view<T>(*current_out, 1, sh, "current (result)");
  if (!sh.error.empty()) return invalid(sh.error);
  const int64_t size = w_i.size, n_blocks = ints.size / kBlockInts;
  if (xp_i.size != size || xq_i.size != size || e_i.size != size) {
    return invalid("plastic state arrays differ in length");
  }
  auto hdims = history_in.dimensions();
  const int64_t ring = hdims[hdims.size() - 2], n_pre = hdims[hdims.size() - 1];
  if (ring < 1 || ints.size % kBlockInts || floats.size != n_blocks * kBlockFloats) {
    return invalid("block tables must be (blocks, 8) int32 and (blocks, 8) float");
  }
  const int64_t batch = sh.batch;
  const Copy copies[] = {copy_of(w_o, w_i, batch), copy_of(xp_o, xp_i, batch),
                         copy_of(xq_o, xq_i, batch), copy_of(e_o, e_i, batch),
                         copy_of(cur_o, cur_i, batch)};
  if (ffi::Error err = copy_into_results(stream, copies, 5); err.failure()) return err;
  PlasticArgs<T> pa{};
  pa.w = w_o.data;
  pa.xp = xp_o.data;
  pa.xq = xq_o.data;
  pa.e = e_o.data;
  pa.state_stride = w_o.stride;
  pa.history = history.data;
  pa.h_stride = history.stride;
  pa.ints = ints.data;
  pa.ints_stride = ints.stride;
  pa.floats = floats.data;
  pa.floats_stride = floats.stride;
  pa.n_blocks = n_blocks;
  pa.ring = ring;
  pa.n_pre = n_pre;
  launch(plastic_step_kernel<T>, static_cast<unsigned>(batch), stream, pa, cur_o.data,
         cur_o.stride, spikes.data, spikes.stride, t.data, t.stride);
  if (cudaError_t err = cudaGetLastError()) return cuda_error(err, "launching the plastic step");
  return ffi::Error::Success();
}

ffi::Error plastic_step(cudaStream_t stream, ffi::AnyBuffer w, ffi::AnyBuffer xp,
                        ffi::AnyBuffer xq, ffi::AnyBuffer e, ffi::AnyBuffer history,
                        ffi::AnyBuffer spikes, ffi::AnyBuffer t, ffi::AnyBuffer current,
                        ffi::AnyBuffer bint, ffi::AnyBuffer bfloat,
                        ffi::Result<ffi::AnyBuffer> w_out, ffi::Result<ffi::AnyBuffer> xp_out,
                        ffi::Result<ffi::AnyBuffer> xq_out, ffi::Result<ffi::AnyBuffer> e_out,
                        ffi::Result<ffi::AnyBuffer> current_out) {
  return by_float_type(w.element_type(), [&](auto zero) {
    return plastic_step_impl<decltype(zero)>(stream, w, xp, xq, e, history, spikes, t, current,
                                             bint, bfloat, w_out, xp_out, xq_out, e_out,
                                             current_out);
  });
}

template <typename T>
ffi::Error propagate_impl(cudaStream_t stream, DeviceScratch& alloc,
                          ffi::AnyBuffer buffer_in, ffi::AnyBuffer spikes_in, ffi::AnyBuffer t_in,
                          ffi::AnyBuffer row_ptr_in, ffi::AnyBuffer offset_in,
                          ffi::AnyBuffer weight_in, ffi::Result<ffi::AnyBuffer>& buffer_out,
                          int64_t ring, int64_t n_cols) {
  Shape sh;
  auto buf_i = view<T>(buffer_in, 1, sh, "buffer");
  auto spk = view<bool>(spikes_in, 1, sh, "spikes");
  auto t = view<int32_t>(t_in, 0, sh, "t");
  auto rp = view<int32_t>(row_ptr_in, 1, sh, "row_ptr");
  auto off = view<int32_t>(offset_in, 1, sh, "offsets");
  auto w = view<T>(weight_in, 1, sh, "weights");
  auto buf_o = view<T>(*buffer_out, 1, sh, "buffer (result)");
  if (!sh.error.empty()) return invalid(sh.error);
  const int64_t size = ring * n_cols;
  if (buf_i.size != size || buf_o.size != size) return invalid("buffer size != ring * n_cols");
  if (rp.size != spk.size + 1) return invalid("row_ptr must have n_pre + 1 entries");
  if (off.size != w.size) return invalid("offsets and weights differ in length");
  const int64_t batch = sh.batch;
  const Copy copy = copy_of(buf_o, buf_i, batch);
  if (ffi::Error err = copy_into_results(stream, &copy, 1); err.failure()) return err;
  auto scratch = scratch_for(alloc, batch, spk.size);
  if (!scratch) return ffi::Error(ffi::ErrorCode::kResourceExhausted, "spark CUDA kernel: scratch");
  launch(propagate_kernel<T>, static_cast<unsigned>(batch), stream, buf_o.data, buf_o.stride,
         spk.data, spk.stride, t.data, t.stride, rp.data, rp.stride, off.data, off.stride,
         w.data, w.stride, scratch->flags, scratch->list, spk.size, ring, n_cols);
  if (cudaError_t err = cudaGetLastError()) return cuda_error(err, "launching propagate");
  return ffi::Error::Success();
}

ffi::Error propagate(cudaStream_t stream, DeviceScratch alloc, ffi::AnyBuffer buffer_in,
                     ffi::AnyBuffer spikes, ffi::AnyBuffer t, ffi::AnyBuffer row_ptr,
                     ffi::AnyBuffer offset, ffi::AnyBuffer weight,
                     ffi::Result<ffi::AnyBuffer> buffer_out, int64_t ring, int64_t n_cols) {
  return by_float_type(buffer_in.element_type(), [&](auto zero) {
    return propagate_impl<decltype(zero)>(stream, alloc, buffer_in, spikes, t, row_ptr, offset,
                                          weight, buffer_out, ring, n_cols);
  });
}

}  // namespace

// The GPU handlers' contexts: the CUDA stream and XLA's scratch allocator (under the
// emulation, their stand-ins); the operands follow from ffi_operands.h.
static auto gpu_binding() { return ffi::Ffi::Bind().Ctx<StreamContext>().Ctx<ScratchContext>(); }

XLA_FFI_DEFINE_HANDLER_SYMBOL(SparkPropagateCuda, propagate,
                              spark_ffi::propagate_operands(gpu_binding()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(SparkLifStepCuda, lif_step,
                              spark_ffi::lif_step_operands(gpu_binding()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(SparkLifChunkCuda, lif_chunk,
                              spark_ffi::lif_chunk_operands(gpu_binding()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(SparkPlasticChunkCuda, plastic_chunk,
                              spark_ffi::plastic_chunk_operands(gpu_binding()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(SparkPlasticStepCuda, plastic_step,
                              spark_ffi::plastic_step_operands(
                                  ffi::Ffi::Bind().Ctx<StreamContext>()));
