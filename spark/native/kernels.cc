// Native CPU kernels of the Spark engine, called from jitted JAX code through XLA's FFI.
//
// Five handlers, each for float32 and float64 (chosen from the buffers' element type):
//
//   spark_propagate  : event-driven synaptic propagation with delays into the ring buffer
//                      (any neuron model; the neuron update stays in XLA).
//   spark_lif_step   : one whole network step for LIF/ALIF/AdEx/Izhikevich networks with up
//                      to four exponential receptors and external drives (update,
//                      threshold, delivery, propagation, reset), the step of
//                      spark/network.py fused (AdEx with spark.neurons.pinned_exp).
//   spark_lif_chunk  : k such steps in one call, with spike counts per population (and the
//                      spikes when recording): a chunk program that is a single call.
//   spark_plastic_step: the plastic synapses' phase of one step (deliveries into the ring
//                      row, STDP / eligibility traces, weights) for a table of complete
//                      rectangles (spark.plasticity.Block).
//   spark_plastic_chunk: spark_lif_chunk with such a table and a readout trace inside the
//                      chunk loop (the cartpole agent's chunk as one call).
// kernels_cuda.cu has the same five handlers for XLA:GPU.
//
// All must agree bit for bit with the pure-JAX path (spark/network.py, spark/connectivity.py):
//   * each ring-buffer entry accumulates in ascending presynaptic order, then row order (the
//     order of the scatter-add);
//   * XLA:CPU contracts `a * b + c` inside a fusion into one fused multiply-add when the CPU
//     has FMA, so the same expressions use SPARK_FMA here, which is std::fma when the build
//     targets FMA hardware and a plain multiply-add otherwise (the file is compiled with
//     -ffp-contract=off, so the compiler never contracts anything on its own).
//
// Batching (jax.vmap with vmap_method="expand_dims"): every operand may carry one extra
// leading axis of size B (batched) or 1 (shared); the kernel loops over the B instances.
// Shapes are checked and a mismatch is returned as an FFI error. The contents of the
// synapse rows (monotone row_ptr, offsets < 2 * ring * n_cols) are trusted: they are built
// by spark.connectivity.build_native from a validated, materialised spec.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

#if defined(SPARK_USE_FMA)
#define SPARK_FMA(a, b, c) std::fma((a), (b), (c))
#else
#define SPARK_FMA(a, b, c) ((a) * (b) + (c))
#endif

#include "ffi_operands.h"
#include "pinned_exp.h"

namespace {

// A view of one operand: base pointer, per-instance element count and instance stride
// (0 when the operand is shared by every instance).
template <typename T>
struct View {
  T* data;
  int64_t size;    // elements per instance
  int64_t stride;  // elements between instances (0: shared)
  T* at(int64_t b) const { return data + b * stride; }
};

struct Shape {
  int64_t batch = 1;  // number of instances (1 when unbatched)
  std::string error;
};

// Interpret a buffer of base rank `rank`: one optional extra leading axis is the batch.
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
  if (first == 1) {
    int64_t b = dims[0];
    if (b != 1) {
      if (shape.batch != 1 && shape.batch != b) {
        shape.error = std::string(name) + ": batch size " + std::to_string(b) +
                      " differs from " + std::to_string(shape.batch);
      }
      shape.batch = b;
      out.stride = out.size;
    }
  }
  return out;
}

template <typename T>
View<T> result_view(ffi::Result<ffi::AnyBuffer>& buf, size_t rank, Shape& shape,
                    const char* name) {
  return view<T>(*buf, rank, shape, name);
}

ffi::Error invalid(const std::string& message) {
  return ffi::Error(ffi::ErrorCode::kInvalidArgument, "spark native kernel: " + message);
}

// Call `body(T{})` with T the C++ type of a float32/float64 element type.
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

// Compressed synapse rows in global presynaptic numbering (neurons, then inputs):
// row p is [row_ptr[p], row_ptr[p + 1]); offset = delay * C + column.
struct Rows {
  const int32_t* row_ptr;
  const int32_t* offset;
  int64_t prefetch_lines;  // of the next row, per array (see rows_prefetch_lines)
};

// Append the indices of the set flags, ascending. Spikes are sparse (~0.1 % of flags per
// step), so whole 8-byte words of zero flags are skipped at once.
inline void set_indices(const bool* flags, int64_t n, std::vector<int32_t>& out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, flags + i, 8);
    if (word == 0) continue;
    for (int64_t j = i; j < i + 8; ++j) {
      if (flags[j]) out.push_back(static_cast<int32_t>(j));
    }
  }
  for (; i < n; ++i) {
    if (flags[i]) out.push_back(static_cast<int32_t>(i));
  }
}

// Prefetch [begin, end) into the caches, at most `lines` cache lines.
template <typename E>
inline void prefetch_lines(const E* begin, const E* end, int64_t lines) {
  const char* c = reinterpret_cast<const char*>(begin);
  const char* stop = std::min(reinterpret_cast<const char*>(end), c + 64 * lines);
  for (; c < stop; c += 64) __builtin_prefetch(c, 0, 1);
}

// How much of the next spiking row to ask for while walking one. The whole row (up to 64
// lines per array; the hardware streamer follows beyond) pays when the synapse tables live
// in DRAM: paper8 (30 MB) -15 % per propagated event. Where they fit in the caches it only
// adds instructions: brunel2000_small (5 MB) +5 %, so there only the row's first 4 lines.
// 16 MB: half the last-level cache of the 2-core EPYC this was measured on
// (benchmarks/scripts/propagation_floor.py; spark/native/NOTES.md).
constexpr int64_t kLargeTableBytes = int64_t{16} << 20;
inline int64_t rows_prefetch_lines(int64_t n_synapses, size_t weight_bytes) {
  const int64_t bytes = n_synapses * static_cast<int64_t>(sizeof(int32_t) + weight_bytes);
  return bytes > kLargeTableBytes ? 64 : 4;
}

// Add the rows `first_row + r` for every r in `active` (ascending) into the flat ring
// buffer (D * C entries), whose row of this step starts at `base`.
template <typename T>
inline void propagate_rows(T* buffer, int64_t size, int64_t base, const Rows& rows,
                           const T* weight, const std::vector<int32_t>& active,
                           int64_t first_row) {
  const size_t n_active = active.size();
  for (size_t a = 0; a < n_active; ++a) {
    const int64_t p = first_row + active[a];
    // The next row, while this one is walked: a spiking neuron's row is ~3 KB somewhere in
    // ~30 MB of synapses (paper8), so it comes from DRAM, and one core's few outstanding
    // misses, not bandwidth, bound the walk (reading the rows alone, with no accumulation,
    // costs ~1 ns per synapse; see NOTES.md, "Where a propagated event's time goes").
    if (a + 1 < n_active) {
      const int64_t q = first_row + active[a + 1];
      const int32_t* rp = rows.row_ptr;
      prefetch_lines(rows.offset + rp[q], rows.offset + rp[q + 1], rows.prefetch_lines);
      prefetch_lines(weight + rp[q], weight + rp[q + 1], rows.prefetch_lines);
    }
    const int32_t end = rows.row_ptr[p + 1];
    for (int32_t s = rows.row_ptr[p]; s < end; ++s) {
      const int64_t o = base + rows.offset[s];
      // Branch-free wrap: with random delays a branch here is mispredicted half the time.
      buffer[o - (o >= size ? size : 0)] += weight[s];
    }
  }
}

// Scratch index lists, reused across calls (one per thread: XLA may run calls concurrently).
thread_local std::vector<int32_t> spiking_neurons, spiking_inputs;

// ------------------------------------------------------------------ spark_propagate

template <typename T>
ffi::Error propagate_impl(ffi::AnyBuffer buffer_in, ffi::AnyBuffer spikes_in, ffi::AnyBuffer t_in,
                          ffi::AnyBuffer row_ptr_in, ffi::AnyBuffer offset_in,
                          ffi::AnyBuffer weight_in, ffi::Result<ffi::AnyBuffer> buffer_out,
                          int64_t ring, int64_t n_cols) {
  Shape shape;
  auto buf_i = view<T>(buffer_in, 1, shape, "buffer");
  auto spk = view<bool>(spikes_in, 1, shape, "spikes");
  auto t = view<int32_t>(t_in, 0, shape, "t");
  auto row_ptr = view<int32_t>(row_ptr_in, 1, shape, "row_ptr");
  auto offset = view<int32_t>(offset_in, 1, shape, "offsets");
  auto weight = view<T>(weight_in, 1, shape, "weights");
  auto buf_o = result_view<T>(buffer_out, 1, shape, "buffer (result)");
  if (!shape.error.empty()) return invalid(shape.error);
  const int64_t size = ring * n_cols;
  if (buf_i.size != size || buf_o.size != size) return invalid("buffer size != ring * n_cols");
  if (row_ptr.size != spk.size + 1) return invalid("row_ptr must have n_pre + 1 entries");
  if (offset.size != weight.size) return invalid("offsets and weights differ in length");
  for (int64_t b = 0; b < shape.batch; ++b) {
    T* out = buf_o.at(b);
    if (out != buf_i.at(b)) std::memcpy(out, buf_i.at(b), size * sizeof(T));
    const int32_t* rp = row_ptr.at(b);
    if (rp[spk.size] > offset.size) return invalid("row_ptr points past the synapse arrays");
    const int64_t base = (static_cast<int64_t>(*t.at(b)) % ring) * n_cols;
    spiking_neurons.clear();
    set_indices(spk.at(b), spk.size, spiking_neurons);
    const Rows rows{rp, offset.at(b), rows_prefetch_lines(offset.size, sizeof(T))};
    propagate_rows<T>(out, size, base, rows, weight.at(b), spiking_neurons, 0);
  }
  return ffi::Error::Success();
}

ffi::Error propagate(ffi::AnyBuffer buffer_in, ffi::AnyBuffer spikes, ffi::AnyBuffer t,
                     ffi::AnyBuffer row_ptr, ffi::AnyBuffer offset, ffi::AnyBuffer weight,
                     ffi::Result<ffi::AnyBuffer> buffer_out, int64_t ring, int64_t n_cols) {
  return by_float_type(buffer_in.element_type(), [&](auto zero) {
    return propagate_impl<decltype(zero)>(buffer_in, spikes, t, row_ptr, offset, weight,
                                          buffer_out, ring, n_cols);
  });
}

// ------------------------------------------------------------------ spark_lif_step

// Parameters are per population ("segment"): every neuron of a population shares them, so
// the neuron loop reads only the state (a per-neuron copy of nine parameters would triple
// the memory traffic of the step). Float table columns, then int table columns:
// With R exponential receptors (R = n_cols / N - 1, at most kMaxReceptors) a row has
// kReceptorParams + 2 * max(R, 1) columns: the receptor-free ones, then syn_coef of each
// receptor, then g_decay of each receptor.
// AdEx and Izhikevich rows use kVThresh for v_peak, kBeta for the jump of aux at a spike
// (AdEx b, Izhikevich d) and kVReset; their own parameters are kEulerParams more columns
// after the receptor columns (present when the network has such a population: the table
// then has kReceptorParams + 2 * max(R, 1) + kEulerParams columns for every row).
// The int column kKind says the model (0 LIF, 1 ALIF: the old "adaptive" flag).
enum FloatParam { kDecay, kVInf, kVThresh, kThetaDecay, kBeta, kVReset, kReceptorParams };
enum EulerParam { kDt, kIOffset, kA, kB, kTauM, kVRest, kVT, kDeltaT, kTauW, kEulerParams };
enum IntParam { kStart, kStop, kRefSteps, kHasSyn, kKind, kIntParams };
enum Kind { kLif, kAlif, kAdEx, kIzhikevich, kKinds };
constexpr int64_t kMaxReceptors = 4;

// ------------------------------------------------------------------ the pinned exp

// spark.neurons.pinned_exp (pinned_exp.h, shared with the CUDA kernels).
using spark_exp::pinned_exp;

template <typename T>
struct StepState {
  int32_t step;
  int64_t n;
  T* v;
  T* g;
  T* aux;
  int32_t* last;
  T* row;  // ring-buffer row of this step: delta inputs [0, n), receptor r [(1+r)n, (2+r)n)
  bool* spiked;
  int64_t receptor_cols;  // max(R, 1): syn_coef and g_decay columns in the parameter rows
};

// One population's update, threshold, delivery and reset, in the pure-JAX step's order
// and roundings (branch-free so that it vectorises; the flags and the number of receptors
// kR are template arguments). Receptor r's current is g[r * n + i]; with kR >= 1 each adds
// its propagator term in receptor order, then decays and takes this step's deliveries.
template <typename T>
struct LifParams {
  T decay, v_inf, v_th, theta_decay, beta, v_reset;
  T syn[kMaxReceptors];
};

// The neuron loop, its own noinline function with restrict-qualified pointers and no
// bool store (as euler_loop below, for the same reason): with the spike flags stored in
// the loop GCC left the LIF instances scalar; now LIF with 0 or 1 receptor (paper8's
// case) vectorises, ALIF and LIF with 2+ receptors still do not ("no vectype for stmt",
// GCC 12, -fopt-info-vec, also under `omp simd`; 2026-12-05). It reads the old g of every
// receptor; update_segment then decays g, takes the deliveries and sets the flags.
template <typename T, int kR, bool kSyn, bool kAdapt>
__attribute__((noinline)) void lif_loop(const LifParams<T> p, int64_t start, int64_t stop,
                                        int64_t n, int32_t step, int32_t ref,
                                        T* __restrict v, const T* __restrict g,
                                        T* __restrict aux, int32_t* __restrict last,
                                        T* __restrict row) {
  for (int64_t i = start; i < stop; ++i) {
    const bool refractory = (step - last[i]) < ref;
    const T v_old = v[i];
    T v_new = SPARK_FMA(v_old - p.v_inf, p.decay, p.v_inf);
    if (kSyn) {
#pragma GCC unroll 4
      for (int r = 0; r < kR; ++r) v_new = SPARK_FMA(g[r * n + i], p.syn[r], v_new);
    }
    v_new = refractory ? v_old : v_new;
    const T a = kAdapt ? aux[i] * p.theta_decay : T(0);
    const bool spike = !refractory & (kAdapt ? v_new > p.v_th + a : v_new > p.v_th);
    const T delta = row[i];
    row[i] = T(0);
    v_new = refractory ? v_new : v_new + delta;
    v[i] = spike ? p.v_reset : v_new;
    if (kAdapt) aux[i] = spike ? a + p.beta : a;
    last[i] = spike ? step : last[i];
  }
}

template <typename T, int kR, bool kSyn, bool kAdapt>
void update_segment(const StepState<T>& s, const T* fp, const int32_t* ip) {
  LifParams<T> p{fp[kDecay], fp[kVInf], fp[kVThresh], fp[kThetaDecay], fp[kBeta], fp[kVReset],
                 {}};
  for (int r = 0; r < kR; ++r) p.syn[r] = fp[kReceptorParams + r];
  const int32_t step = s.step;
  const int64_t start = ip[kStart], stop = ip[kStop], n = s.n;
  lif_loop<T, kR, kSyn, kAdapt>(p, start, stop, n, step, ip[kRefSteps], s.v, s.g, s.aux,
                                s.last, s.row);
  // Every lastspike is < step before the step (a past step or NEVER): the flags follow.
  for (int64_t i = start; i < stop; ++i) s.spiked[i] = s.last[i] == step;
  // Decay and deliveries of g, after the loop above has read the old g: one loop per
  // receptor (per element the same operations as before, so the same results).
  for (int r = 0; r < kR; ++r) {
    T* __restrict gr = s.g + r * n;
    T* __restrict in = s.row + (1 + r) * n;
    const T decay = fp[kReceptorParams + s.receptor_cols + r];
    for (int64_t i = start; i < stop; ++i) {
      gr[i] = SPARK_FMA(gr[i], decay, in[i]);
      in[i] = T(0);
    }
  }
}

// One AdEx or Izhikevich population: one forward-Euler step with old-state right-hand
// sides (spark.neurons.AdExCells / IzhikevichCells), the old g of every receptor row
// (max(R, 1) rows, as receptor_sum adds them, zeros included), then the same refractory
// masking (v only: aux integrates on), threshold, delivery and reset as update_segment.
// SPARK_FMA stands where XLA:CPU contracts (measured by the bitwise tests).
template <typename T>
struct EulerParams {
  T v_peak, jump, v_reset, dt, i_offset, a, b, tau_m, v_rest, v_t, delta_t, tau_w;
};

// The neuron loop (its own function so that the restrict-qualified parameters let GCC
// vectorise it without run-time alias checks, which it gives up on past a few pointers).
// Not inlined: inlined into the dispatch, GCC loses the restrict information for some
// of the instances and leaves them scalar.
template <typename T, int kR, int kModel>
__attribute__((noinline)) void euler_loop(const EulerParams<T> p, int64_t start, int64_t stop,
                                          int64_t n, int32_t step, int32_t ref,
                                          T* __restrict v, const T* __restrict g,
                                          T* __restrict aux, int32_t* __restrict last,
                                          T* __restrict row) {
  constexpr int kRows = kR > 0 ? kR : 1;
  for (int64_t i = start; i < stop; ++i) {
    const bool refractory = (step - last[i]) < ref;
    const T v_old = v[i], x_old = aux[i];
    T v_new, x_new;
    if (kModel == kAdEx) {
      // v_rest - v + delta_t * exp((v - v_t) / delta_t) - w + i_offset + g..., / tau_m
      const T e = pinned_exp<T>((v_old - p.v_t) / p.delta_t);
      T sum = SPARK_FMA(p.delta_t, e, p.v_rest - v_old);
      sum = (sum - x_old) + p.i_offset;
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) sum = sum + g[r * n + i];
      const T dv = sum / p.tau_m;
      const T dw = SPARK_FMA(p.a, v_old - p.v_rest, -x_old) / p.tau_w;
      v_new = SPARK_FMA(p.dt, dv, v_old);
      x_new = SPARK_FMA(p.dt, dw, x_old);
    } else {
      // 0.04 v v + 5 v + 140 - u + i_offset + g...; du = a (b v - u). XLA:CPU contracts
      // 5 v into the sum, not 0.04 v v (measured: the other way round differs in the
      // last bit on ~10 % of arguments).
      T sum = SPARK_FMA(T(5.0), v_old, (T(0.04) * v_old) * v_old);
      sum = ((sum + T(140.0)) - x_old) + p.i_offset;
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) sum = sum + g[r * n + i];
      const T du = p.a * SPARK_FMA(p.b, v_old, -x_old);
      v_new = SPARK_FMA(p.dt, sum, v_old);
      x_new = SPARK_FMA(p.dt, du, x_old);
    }
    v_new = refractory ? v_old : v_new;
    const bool spike = !refractory & (v_new > p.v_peak);
    const T delta = row[i];
    row[i] = T(0);
    v_new = refractory ? v_new : v_new + delta;
    v[i] = spike ? p.v_reset : v_new;
    aux[i] = spike ? x_new + p.jump : x_new;
    last[i] = spike ? step : last[i];
  }
}

template <typename T, int kR, int kModel>
void update_euler(const StepState<T>& s, const T* fp, const T* ep, const int32_t* ip) {
  const EulerParams<T> p{fp[kVThresh], fp[kBeta],  fp[kVReset], ep[kDt],
                         ep[kIOffset], ep[kA],     ep[kB],      ep[kTauM],
                         ep[kVRest],   ep[kVT],    ep[kDeltaT], ep[kTauW]};
  const int32_t step = s.step;
  const int64_t start = ip[kStart], stop = ip[kStop], n = s.n;
  euler_loop<T, kR, kModel>(p, start, stop, n, step, ip[kRefSteps], s.v, s.g, s.aux, s.last,
                            s.row);
  // The flags from lastspike (every state has lastspike < step before the step: a past
  // step or NEVER): a bool store in the loop above keeps GCC from vectorising it.
  for (int64_t i = start; i < stop; ++i) s.spiked[i] = s.last[i] == step;
  // Decay and deliveries of g after the loop above has read the old g: one loop per
  // receptor (a store to row[(1 + r) n + i] next to the one to row[i] is a possible alias
  // GCC does not vectorise).
  for (int r = 0; r < kR; ++r) {
    T* __restrict gr = s.g + r * n;
    T* __restrict in = s.row + (1 + r) * n;
    const T decay = fp[kReceptorParams + s.receptor_cols + r];
    for (int64_t i = start; i < stop; ++i) {
      gr[i] = SPARK_FMA(gr[i], decay, in[i]);
      in[i] = T(0);
    }
  }
}

template <typename T, int kR>
void update_flags(const StepState<T>& s, const T* fp, const T* ep, const int32_t* ip) {
  if (ip[kKind] == kAdEx) return update_euler<T, kR, kAdEx>(s, fp, ep, ip);
  if (ip[kKind] == kIzhikevich) return update_euler<T, kR, kIzhikevich>(s, fp, ep, ip);
  const bool syn = ip[kHasSyn] != 0, adapt = ip[kKind] == kAlif;
  if (syn && adapt) update_segment<T, kR, true, true>(s, fp, ip);
  else if (syn) update_segment<T, kR, true, false>(s, fp, ip);
  else if (adapt) update_segment<T, kR, false, true>(s, fp, ip);
  else update_segment<T, kR, false, false>(s, fp, ip);
}

template <typename T>
void update_dispatch(const StepState<T>& s, int64_t receptors, const T* fp, const T* ep,
                     const int32_t* ip) {
  switch (receptors) {
    case 0: return update_flags<T, 0>(s, fp, ep, ip);
    case 1: return update_flags<T, 1>(s, fp, ep, ip);
    case 2: return update_flags<T, 2>(s, fp, ep, ip);
    case 3: return update_flags<T, 3>(s, fp, ep, ip);
    default: return update_flags<T, 4>(s, fp, ep, ip);  // check() bounds it by kMaxReceptors
  }
}

// ------------------------------------------------------------------ plastic blocks

// The plastic synapses' phase of a step (spark/plasticity.py, PlasticSynapses.step) for a
// table laid out as blocks: complete (n_pre, n_post) rectangles, pre major, one delay each.
// First every block's deliveries (the weights before this step's update) are added into the
// ring row, row after row in presynaptic order, a row that did not arrive as +0 (as the
// pure-JAX sum does, so that -0 + 0 rounds alike); then, once this step's spikes are known,
// every entry is updated with the roundings XLA:CPU gives _update (measured on 200,000
// random entries, float32, with the rule constants as operands: the depression and
// potentiation terms contract into fused multiply-adds, the trace increments
// `x * decay + 1` do not).
enum BlockInt { kBStart, kBNPre, kBNPost, kBPre, kBPost, kBCol, kBDelay, kBReward, kBlockInts };
enum BlockFloat {
  kAPlus, kAMinus, kWMin, kWMax, kPreDecay, kPostDecay, kEligDecay, kLr, kBlockFloats
};

template <typename T>
inline T clip(T x, T lo, T hi) {
  return std::min(std::max(x, lo), hi);
}

// One instance's block tables, spike history (ring, n_pre) and plastic state.
template <typename T>
struct PlasticBlocks {
  const int32_t* ints;
  const T* floats;
  int64_t n_blocks;
  const bool* history;
  int64_t ring, n_pre;
  T *w, *xp, *xq, *e;

  const bool* arrived(const int32_t* blk, int32_t step) const {
    const int64_t slot = ((static_cast<int64_t>(step) - blk[kBDelay]) % ring + ring) % ring;
    return history + slot * n_pre + blk[kBPre];
  }
};

// "" when the blocks tile a table of `size` entries in order and stay inside the history
// rows, the neurons (n_post) and the ring row (n_cols); else what is wrong.
inline std::string check_blocks(const int32_t* table, int64_t n_blocks, int64_t size,
                                int64_t n_pre, int64_t n_post, int64_t n_cols) {
  int64_t covered = 0;
  for (int64_t k = 0; k < n_blocks; ++k) {
    const int32_t* blk = table + k * kBlockInts;
    const int64_t rows = blk[kBNPre], cols = blk[kBNPost];
    if (blk[kBStart] != covered || rows < 1 || cols < 1 || blk[kBPre] < 0 ||
        blk[kBPre] + rows > n_pre || blk[kBPost] < 0 || blk[kBPost] + cols > n_post ||
        blk[kBCol] < 0 || blk[kBCol] + cols > n_cols || blk[kBDelay] < 1) {
      return "a plastic block lies outside the table, history, spikes or current";
    }
    covered += rows * cols;
  }
  return covered == size ? "" : "plastic blocks must tile the table in order";
}

template <typename T>
void plastic_deliver(const PlasticBlocks<T>& p, int32_t step, T* current) {
  for (int64_t k = 0; k < p.n_blocks; ++k) {
    const int32_t* blk = p.ints + k * kBlockInts;
    const bool* arrived = p.arrived(blk, step);
    const int64_t cols = blk[kBNPost];
    T* target = current + blk[kBCol];
    for (int64_t i = 0; i < blk[kBNPre]; ++i) {
      const T* row = p.w + blk[kBStart] + i * cols;
      if (arrived[i]) {
        for (int64_t j = 0; j < cols; ++j) target[j] = target[j] + row[j];
      } else {
        for (int64_t j = 0; j < cols; ++j) target[j] = target[j] + T(0);
      }
    }
  }
}

// One presynaptic row of a block (entries [0, cols)): whether its spike arrived and the
// rule are fixed along the row, so each of the four cases is its own branch-free loop that
// the compiler can vectorise; the postsynaptic spike is a select.
template <typename T, bool kDelivered, bool kReward>
__attribute__((noinline)) void update_row(int64_t cols, T* __restrict w, T* __restrict xp,
                                          T* __restrict xq, T* __restrict e,
                                          const uint8_t* __restrict spiked, const T* c) {
  const T a_plus = c[kAPlus], minus_a_minus = -c[kAMinus], lo = c[kWMin], hi = c[kWMax];
  const T pre_decay = c[kPreDecay], post_decay = c[kPostDecay], elig_decay = c[kEligDecay];
  for (int64_t j = 0; j < cols; ++j) {
    T weight = w[j];
    const T pre_decayed = xp[j] * pre_decay;
    const T post_decayed = xq[j] * post_decay;
    T trace = e[j] * elig_decay;
    const T pre = kDelivered ? pre_decayed + T(1) : pre_decayed;
    if (kDelivered) {
      if (kReward) {
        trace = SPARK_FMA(minus_a_minus, post_decayed, trace);
      } else {
        weight = clip(SPARK_FMA(minus_a_minus, post_decayed, weight), lo, hi);
      }
    }
    const bool post_spiked = spiked[j] != 0;
    xq[j] = post_spiked ? post_decayed + T(1) : post_decayed;
    if (kReward) {
      const T potentiated = SPARK_FMA(a_plus, pre, trace);
      e[j] = post_spiked ? potentiated : trace;
      w[j] = weight;
    } else {
      const T potentiated = clip(SPARK_FMA(a_plus, pre, weight), lo, hi);
      w[j] = post_spiked ? potentiated : weight;
      e[j] = trace;
    }
    xp[j] = pre;
  }
}

template <typename T>
void plastic_update(const PlasticBlocks<T>& p, int32_t step, const bool* spikes) {
  for (int64_t k = 0; k < p.n_blocks; ++k) {
    const int32_t* blk = p.ints + k * kBlockInts;
    const T* c = p.floats + k * kBlockFloats;
    const bool* arrived = p.arrived(blk, step);
    const uint8_t* spiked = reinterpret_cast<const uint8_t*>(spikes + blk[kBPost]);
    const bool reward = blk[kBReward] != 0;
    const int64_t cols = blk[kBNPost];
    for (int64_t i = 0; i < blk[kBNPre]; ++i) {
      const int64_t r = blk[kBStart] + i * cols;
      T *w = p.w + r, *xp = p.xp + r, *xq = p.xq + r, *e = p.e + r;
      if (arrived[i]) {
        if (reward) {
          update_row<T, true, true>(cols, w, xp, xq, e, spiked, c);
        } else {
          update_row<T, true, false>(cols, w, xp, xq, e, spiked, c);
        }
      } else if (reward) {
        update_row<T, false, true>(cols, w, xp, xq, e, spiked, c);
      } else {
        update_row<T, false, false>(cols, w, xp, xq, e, spiked, c);
      }
    }
  }
}

// Copy an input buffer into its result unless XLA aliased the two.
template <typename T>
inline void copy_if_apart(const T* from, T* to, int64_t n) {
  if (from != to) std::memcpy(to, from, n * sizeof(T));
}

// The operands of the fused LIF kernels, checked, as per-instance views.
template <typename T>
struct LifOperands {
  Shape shape;
  View<int32_t> t;
  View<T> v_i, g_i, a_i, b_i;
  View<int32_t> l_i;
  View<bool> inputs;  // (n_in,) for a step, (k, n_in) for a chunk
  View<T> fparams;
  View<int32_t> iparams;
  View<int32_t> row_ptr, offset;
  View<T> weight;
  View<uint16_t> drive_counts;  // (drive steps, M): what arrives at step t (row t)
  View<int32_t> drive_cols;     // (M,) target column of each
  View<T> drive_weights;        // (M,)
  View<T> v_o, g_o, a_o, b_o;
  View<int32_t> l_o;
  int64_t n = 0, n_in = 0, n_seg = 0, size = 0, receptors = 0, drive_steps = 0;
  int64_t width = 0;  // float parameter columns: base, or base + kEulerParams
};

template <typename T>
std::string check(LifOperands<T>& o, int64_t ring, int64_t n_cols, int64_t steps) {
  if (!o.shape.error.empty()) return o.shape.error;
  o.n = o.v_i.size;
  o.size = ring * n_cols;
  if (steps < 1 || o.inputs.size % steps) return "input spikes do not divide into steps";
  o.n_in = o.inputs.size / steps;
  if (o.n < 1 || n_cols % o.n) return "n_cols must be a multiple of N";
  o.receptors = n_cols / o.n - 1;
  if (o.receptors > kMaxReceptors) return "at most 4 receptors per neuron";
  const int64_t receptor_cols = std::max<int64_t>(o.receptors, 1);
  if (o.g_i.size != receptor_cols * o.n || o.a_i.size != o.n || o.l_i.size != o.n) {
    return "state arrays differ in length (g must be max(R, 1) * N)";
  }
  if (o.b_i.size != o.size || o.b_o.size != o.size) return "buffer size != ring * n_cols";
  if (o.row_ptr.size != o.n + o.n_in + 1) return "row_ptr must have N + n_inputs + 1 entries";
  if (o.offset.size != o.weight.size) return "offsets and weights differ in length";
  const int64_t m = o.drive_cols.size;
  if (o.drive_weights.size != m || (m && o.drive_counts.size % m)) {
    return "drive counts, columns and weights differ in length";
  }
  o.drive_steps = m ? o.drive_counts.size / m : 0;
  o.n_seg = o.iparams.size / kIntParams;
  const int64_t base = kReceptorParams + 2 * receptor_cols;
  o.width = o.n_seg ? o.fparams.size / o.n_seg : 0;
  if (o.iparams.size % kIntParams || o.fparams.size != o.n_seg * o.width ||
      (o.width != base && o.width != base + kEulerParams)) {
    return "parameter tables must be (segments, 6 + 2 max(R, 1) [+ 9]) float and "
           "(segments, 5) int32";
  }
  for (int64_t b = 0; b < o.shape.batch; ++b) {
    const int32_t* ip = o.iparams.at(b);
    int64_t covered = 0;
    for (int64_t k = 0; k < o.n_seg; ++k) {
      const int32_t* seg = ip + k * kIntParams;
      if (seg[kStart] != covered || seg[kStop] < seg[kStart] || seg[kStop] > o.n) {
        return "segments must tile [0, N) in order";
      }
      if (seg[kKind] < 0 || seg[kKind] >= kKinds) return "unknown neuron model kind";
      if (seg[kKind] >= kAdEx && o.width == base) {
        return "AdEx/Izhikevich rows need the 9 Euler parameter columns";
      }
      covered = seg[kStop];
    }
    if (covered != o.n) return "segments must tile [0, N) in order";
    if (o.row_ptr.at(b)[o.n + o.n_in] > o.offset.size) {
      return "row_ptr points past the synapse arrays";
    }
    const int32_t* cols = o.drive_cols.at(b);
    for (int64_t j = 0; j < m; ++j) {
      if (cols[j] < 0 || cols[j] >= n_cols) return "drive column outside [0, n_cols)";
    }
  }
  return "";
}

// Aliased outputs already hold their inputs; otherwise copy the state over first.
template <typename T>
void copy_state(const LifOperands<T>& o, int64_t b) {
  copy_if_apart(o.v_i.at(b), o.v_o.at(b), o.n);
  copy_if_apart(o.g_i.at(b), o.g_o.at(b), o.n);
  copy_if_apart(o.a_i.at(b), o.a_o.at(b), o.n);
  copy_if_apart(o.l_i.at(b), o.l_o.at(b), o.n);
  copy_if_apart(o.b_i.at(b), o.b_o.at(b), o.size);
}

// The plastic part of a chunk (spark_plastic_chunk): block tables, the plastic state, the
// spike history the delays read and the readout trace (N entries, or none), as views.
template <typename T>
struct PlasticOperands {
  View<T> w_i, xp_i, xq_i, e_i, trace_i, decay, modulator;
  View<bool> history_i;
  View<int32_t> ints;
  View<T> floats;
  View<T> w_o, xp_o, xq_o, e_o, trace_o;
  View<bool> history_o;
  int64_t n_blocks = 0, ring = 0, n_pre = 0, size = 0;
  bool modulate = false;  // end the chunk with the three-factor update

  // "" when the operands fit the network of `o` (a history of `ring` rows of N + n_inputs
  // spikes, blocks inside it, the neurons and the ring row) for every instance; sets the
  // derived sizes. Shared by the XLA handler and the direct entry.
  std::string check(const LifOperands<T>& o, int64_t ring_rows, int64_t n_cols, int64_t batch) {
    size = w_i.size;
    n_blocks = ints.size / kBlockInts;
    ring = ring_rows;
    n_pre = o.n + o.n_in;
    if (xp_i.size != size || xq_i.size != size || e_i.size != size) {
      return "plastic state arrays differ in length";
    }
    if (ints.size % kBlockInts || floats.size != n_blocks * kBlockFloats) {
      return "block tables must be (blocks, 8) int32 and (blocks, 8) float";
    }
    if (history_i.size != ring * n_pre) return "history must be (ring, N + n_inputs)";
    if (trace_i.size != 0 && trace_i.size != o.n) {
      return "the readout trace must have N entries (or none)";
    }
    if (modulator.size != 1) return "the modulator must be one number";
    for (int64_t b = 0; b < batch; ++b) {
      std::string error = check_blocks(ints.at(b), n_blocks, size, n_pre, o.n, n_cols);
      if (!error.empty()) return error;
    }
    return "";
  }

  PlasticBlocks<T> at(int64_t b) const {
    return {ints.at(b), floats.at(b), n_blocks, history_o.at(b), ring, n_pre,
            w_o.at(b), xp_o.at(b), xq_o.at(b), e_o.at(b)};
  }

  void copy_state(int64_t b) const {
    copy_if_apart(w_i.at(b), w_o.at(b), size);
    copy_if_apart(xp_i.at(b), xp_o.at(b), size);
    copy_if_apart(xq_i.at(b), xq_o.at(b), size);
    copy_if_apart(e_i.at(b), e_o.at(b), size);
    copy_if_apart(trace_i.at(b), trace_o.at(b), trace_i.size);
    copy_if_apart(history_i.at(b), history_o.at(b), history_i.size);
  }

  // The end of a chunk: w = clip(w + lr * modulator * e) on the reward blocks, contracted
  // as XLA:CPU does PlasticSynapses.apply_modulator.
  void apply_modulator(int64_t b) const {
    const PlasticBlocks<T> p = at(b);
    const T m = *modulator.at(b);
    for (int64_t k = 0; k < n_blocks; ++k) {
      const int32_t* blk = p.ints + k * kBlockInts;
      if (!blk[kBReward]) continue;
      const T* c = p.floats + k * kBlockFloats;
      const T scale = c[kLr] * m, lo = c[kWMin], hi = c[kWMax];
      const int64_t start = blk[kBStart], stop = start + int64_t{blk[kBNPre]} * blk[kBNPost];
      for (int64_t s = start; s < stop; ++s) p.w[s] = clip(SPARK_FMA(scale, p.e[s], p.w[s]), lo, hi);
    }
  }

  // After the neuron update of `step`: the plastic update with its spikes, the step's
  // spikes (neurons, then inputs) into the history, the readout trace
  // (trace * decay + spiked, contracted as XLA:CPU does).
  void after_update(int64_t b, int32_t step, const bool* spiked, const bool* inputs, int64_t n,
                    int64_t n_in) const {
    plastic_update(at(b), step, spiked);
    bool* row = history_o.at(b) + (static_cast<int64_t>(step) % ring) * n_pre;
    std::memcpy(row, spiked, n * sizeof(bool));
    std::memcpy(row + n, inputs, n_in * sizeof(bool));
    if (trace_o.size) {
      T* trace = trace_o.at(b);
      const T d = *decay.at(b);
      for (int64_t i = 0; i < n; ++i) trace[i] = SPARK_FMA(trace[i], d, spiked[i] ? T(1) : T(0));
    }
  }
};

// One step of instance b, in place on the outputs: neuron update, then propagation of this
// step's neuron spikes (flags written to `spiked`, indices left in `spiking_neurons`) and
// input spikes.
template <typename T>
void step_instance(const LifOperands<T>& o, int64_t b, int32_t step, const bool* inputs,
                   bool* spiked, int64_t ring, int64_t n_cols,
                   const PlasticOperands<T>* plastic = nullptr) {
  const int64_t slot = (static_cast<int64_t>(step) % ring) * n_cols;
  T* buf = o.b_o.at(b);
  // Plastic deliveries join the ring row first, then the drives (pure JAX: row, plastic
  // deliveries, drive current, in that order).
  if (plastic) plastic_deliver(plastic->at(b), step, buf + slot);
  const int64_t receptor_cols = std::max<int64_t>(o.receptors, 1);
  StepState<T> s{step, o.n, o.v_o.at(b), o.g_o.at(b), o.a_o.at(b), o.l_o.at(b), buf + slot,
                 spiked, receptor_cols};
  if (step >= 0 && step < o.drive_steps) {
    // This step's drive counts join the ring row before the update reads it, as in
    // DriveTable.current (columns are distinct: the engine fuses only then).
    const int64_t m = o.drive_cols.size;
    const uint16_t* counts = o.drive_counts.at(b) + static_cast<int64_t>(step) * m;
    const int32_t* cols = o.drive_cols.at(b);
    const T* w = o.drive_weights.at(b);
    for (int64_t j = 0; j < m; ++j) {
      if (counts[j]) s.row[cols[j]] += w[j] * static_cast<T>(counts[j]);
    }
  }
  // This step's input spikes are known before the update: their rows (~13 KB each in
  // paper8) load while the neurons update.
  const Rows rows{o.row_ptr.at(b), o.offset.at(b),
                  rows_prefetch_lines(o.offset.size, sizeof(T))};
  spiking_inputs.clear();
  set_indices(inputs, o.n_in, spiking_inputs);
  for (const int32_t r : spiking_inputs) {
    const int32_t* rp = rows.row_ptr + o.n + r;
    prefetch_lines(rows.offset + rp[0], rows.offset + rp[1], rows.prefetch_lines);
    prefetch_lines(o.weight.at(b) + rp[0], o.weight.at(b) + rp[1], rows.prefetch_lines);
  }
  const T* fp = o.fparams.at(b);
  const int32_t* ip = o.iparams.at(b);
  const int64_t euler = kReceptorParams + 2 * receptor_cols;  // first Euler column
  for (int64_t k = 0; k < o.n_seg; ++k) {
    const T* row_params = fp + k * o.width;
    update_dispatch<T>(s, o.receptors, row_params, row_params + euler, ip + k * kIntParams);
  }
  if (plastic) plastic->after_update(b, step, spiked, inputs, o.n, o.n_in);
  spiking_neurons.clear();
  set_indices(spiked, o.n, spiking_neurons);
  propagate_rows<T>(buf, o.size, slot, rows, o.weight.at(b), spiking_neurons, 0);
  propagate_rows<T>(buf, o.size, slot, rows, o.weight.at(b), spiking_inputs, o.n);
}

template <typename T>
LifOperands<T> operands(ffi::AnyBuffer t, ffi::AnyBuffer v, ffi::AnyBuffer g, ffi::AnyBuffer aux,
                        ffi::AnyBuffer last, ffi::AnyBuffer buf, ffi::AnyBuffer inputs,
                        size_t input_rank, ffi::AnyBuffer fparams, ffi::AnyBuffer iparams,
                        ffi::AnyBuffer row_ptr, ffi::AnyBuffer offset, ffi::AnyBuffer weight,
                        ffi::AnyBuffer drive_counts, ffi::AnyBuffer drive_cols,
                        ffi::AnyBuffer drive_weights,
                        ffi::Result<ffi::AnyBuffer>& v_out, ffi::Result<ffi::AnyBuffer>& g_out,
                        ffi::Result<ffi::AnyBuffer>& aux_out,
                        ffi::Result<ffi::AnyBuffer>& last_out,
                        ffi::Result<ffi::AnyBuffer>& buf_out) {
  LifOperands<T> o;
  Shape& sh = o.shape;
  o.t = view<int32_t>(t, 0, sh, "t");
  o.v_i = view<T>(v, 1, sh, "v");
  o.g_i = view<T>(g, 1, sh, "g");
  o.a_i = view<T>(aux, 1, sh, "aux");
  o.l_i = view<int32_t>(last, 1, sh, "lastspike");
  o.b_i = view<T>(buf, 1, sh, "buffer");
  o.inputs = view<bool>(inputs, input_rank, sh, "input spikes");
  o.fparams = view<T>(fparams, 2, sh, "float parameters");
  o.iparams = view<int32_t>(iparams, 2, sh, "int parameters");
  o.row_ptr = view<int32_t>(row_ptr, 1, sh, "row_ptr");
  o.offset = view<int32_t>(offset, 1, sh, "offsets");
  o.weight = view<T>(weight, 1, sh, "weights");
  o.drive_counts = view<uint16_t>(drive_counts, 2, sh, "drive counts");
  o.drive_cols = view<int32_t>(drive_cols, 1, sh, "drive columns");
  o.drive_weights = view<T>(drive_weights, 1, sh, "drive weights");
  o.v_o = result_view<T>(v_out, 1, sh, "v (result)");
  o.g_o = result_view<T>(g_out, 1, sh, "g (result)");
  o.a_o = result_view<T>(aux_out, 1, sh, "aux (result)");
  o.l_o = result_view<int32_t>(last_out, 1, sh, "lastspike (result)");
  o.b_o = result_view<T>(buf_out, 1, sh, "buffer (result)");
  return o;
}

// ------------------------------------------------------------------ spark_lif_step

template <typename T>
ffi::Error lif_step_impl(ffi::AnyBuffer t, ffi::AnyBuffer v, ffi::AnyBuffer g, ffi::AnyBuffer aux,
                         ffi::AnyBuffer last, ffi::AnyBuffer buf, ffi::AnyBuffer inputs,
                         ffi::AnyBuffer fparams, ffi::AnyBuffer iparams, ffi::AnyBuffer row_ptr,
                         ffi::AnyBuffer offset, ffi::AnyBuffer weight, ffi::AnyBuffer dcounts,
                         ffi::AnyBuffer dcols, ffi::AnyBuffer dweights,
                         ffi::Result<ffi::AnyBuffer> v_out, ffi::Result<ffi::AnyBuffer> g_out,
                         ffi::Result<ffi::AnyBuffer> aux_out, ffi::Result<ffi::AnyBuffer> last_out,
                         ffi::Result<ffi::AnyBuffer> buf_out,
                         ffi::Result<ffi::AnyBuffer> spiked_out, int64_t ring, int64_t n_cols) {
  auto o = operands<T>(t, v, g, aux, last, buf, inputs, 1, fparams, iparams, row_ptr, offset,
                       weight, dcounts, dcols, dweights, v_out, g_out, aux_out, last_out, buf_out);
  auto spiked = result_view<bool>(spiked_out, 1, o.shape, "spiked (result)");
  std::string error = check(o, ring, n_cols, 1);
  if (error.empty() && spiked.size != o.n) error = "spiked must have N entries";
  if (!error.empty()) return invalid(error);
  for (int64_t b = 0; b < o.shape.batch; ++b) {
    copy_state(o, b);
    step_instance(o, b, *o.t.at(b), o.inputs.at(b), spiked.at(b), ring, n_cols);
  }
  return ffi::Error::Success();
}

// ------------------------------------------------------------------ spark_lif_chunk

// The chunk loop shared by the XLA handler and the direct entry below: `steps` steps of
// every instance, the spike count per population (segment) and, when `spikes` has k rows,
// every step's spikes. Instances are independent: with threads > 1 they are spread over
// that many threads (each with its own scratch lists), which changes no result.
template <typename T>
void run_chunk(const LifOperands<T>& o, const View<int32_t>& counts, const View<bool>& spikes,
               int64_t steps, int64_t ring, int64_t n_cols, int64_t threads,
               const PlasticOperands<T>* plastic = nullptr) {
  const bool record = spikes.size != 0;
  auto run_instance = [&](int64_t b) {
    std::vector<char> scratch(record ? 0 : o.n);
    copy_state(o, b);
    if (plastic) plastic->copy_state(b);
    int32_t* count = counts.at(b);
    for (int64_t seg = 0; seg < o.n_seg; ++seg) count[seg] = 0;
    const int32_t t0 = *o.t.at(b);
    const int32_t* ip = o.iparams.at(b);
    for (int64_t k = 0; k < steps; ++k) {
      bool* spiked = record ? spikes.at(b) + k * o.n : reinterpret_cast<bool*>(scratch.data());
      step_instance(o, b, t0 + static_cast<int32_t>(k), o.inputs.at(b) + k * o.n_in, spiked,
                    ring, n_cols, plastic);
      int64_t seg = 0;  // spiking_neurons is ascending, so is the segment of each
      for (const int32_t i : spiking_neurons) {
        while (i >= ip[seg * kIntParams + kStop]) ++seg;
        ++count[seg];
      }
    }
    if (plastic && plastic->modulate) plastic->apply_modulator(b);
  };
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(threads, o.shape.batch));
  std::vector<std::thread> pool;
  for (int64_t w = 1; w < workers; ++w) {
    pool.emplace_back([&, w] {
      for (int64_t b = w; b < o.shape.batch; b += workers) run_instance(b);
    });
  }
  for (int64_t b = 0; b < o.shape.batch; b += workers) run_instance(b);
  for (auto& thread : pool) thread.join();
}


// k steps in one call (k = rows of the input spikes): the whole chunk program is then this
// one call, with no per-step XLA operations around it. Also returns the spike count per
// population (a segment of the parameter table) and, when `spikes_out` has k rows, every
// step's spikes.
template <typename T>
ffi::Error lif_chunk_impl(ffi::AnyBuffer t, ffi::AnyBuffer v, ffi::AnyBuffer g, ffi::AnyBuffer aux,
                          ffi::AnyBuffer last, ffi::AnyBuffer buf, ffi::AnyBuffer inputs,
                          ffi::AnyBuffer fparams, ffi::AnyBuffer iparams, ffi::AnyBuffer row_ptr,
                          ffi::AnyBuffer offset, ffi::AnyBuffer weight, ffi::AnyBuffer dcounts,
                          ffi::AnyBuffer dcols, ffi::AnyBuffer dweights,
                          ffi::Result<ffi::AnyBuffer> v_out, ffi::Result<ffi::AnyBuffer> g_out,
                          ffi::Result<ffi::AnyBuffer> aux_out,
                          ffi::Result<ffi::AnyBuffer> last_out, ffi::Result<ffi::AnyBuffer> buf_out,
                          ffi::Result<ffi::AnyBuffer> counts_out,
                          ffi::Result<ffi::AnyBuffer> spikes_out, int64_t ring, int64_t n_cols,
                          int64_t threads) {
  auto o = operands<T>(t, v, g, aux, last, buf, inputs, 2, fparams, iparams, row_ptr, offset,
                       weight, dcounts, dcols, dweights, v_out, g_out, aux_out, last_out, buf_out);
  auto counts = result_view<int32_t>(counts_out, 1, o.shape, "counts (result)");
  auto spikes = result_view<bool>(spikes_out, 2, o.shape, "spikes (result)");
  auto dims = inputs.dimensions();
  const int64_t steps = dims.size() >= 2 ? dims[dims.size() - 2] : 0;
  std::string error = check(o, ring, n_cols, steps);
  if (error.empty() && counts.size != o.n_seg) error = "counts must have one entry per segment";
  const bool record = spikes.size != 0;
  if (error.empty() && record && spikes.size != steps * o.n) error = "spikes must be (k, N) or (0, N)";
  if (!error.empty()) return invalid(error);
  run_chunk(o, counts, spikes, steps, ring, n_cols, threads);
  return ffi::Error::Success();
}

ffi::Error lif_step(ffi::AnyBuffer t, ffi::AnyBuffer v, ffi::AnyBuffer g, ffi::AnyBuffer aux,
                    ffi::AnyBuffer last, ffi::AnyBuffer buf, ffi::AnyBuffer inputs,
                    ffi::AnyBuffer fparams, ffi::AnyBuffer iparams, ffi::AnyBuffer row_ptr,
                    ffi::AnyBuffer offset, ffi::AnyBuffer weight, ffi::AnyBuffer dcounts,
                    ffi::AnyBuffer dcols, ffi::AnyBuffer dweights,
                    ffi::Result<ffi::AnyBuffer> v_out, ffi::Result<ffi::AnyBuffer> g_out,
                    ffi::Result<ffi::AnyBuffer> aux_out, ffi::Result<ffi::AnyBuffer> last_out,
                    ffi::Result<ffi::AnyBuffer> buf_out, ffi::Result<ffi::AnyBuffer> spiked_out,
                    int64_t ring, int64_t n_cols) {
  return by_float_type(v.element_type(), [&](auto zero) {
    return lif_step_impl<decltype(zero)>(t, v, g, aux, last, buf, inputs, fparams, iparams,
                                         row_ptr, offset, weight, dcounts, dcols, dweights,
                                         v_out, g_out, aux_out,
                                         last_out, buf_out, spiked_out, ring, n_cols);
  });
}

ffi::Error lif_chunk(ffi::AnyBuffer t, ffi::AnyBuffer v, ffi::AnyBuffer g, ffi::AnyBuffer aux,
                     ffi::AnyBuffer last, ffi::AnyBuffer buf, ffi::AnyBuffer inputs,
                     ffi::AnyBuffer fparams, ffi::AnyBuffer iparams, ffi::AnyBuffer row_ptr,
                     ffi::AnyBuffer offset, ffi::AnyBuffer weight, ffi::AnyBuffer dcounts,
                     ffi::AnyBuffer dcols, ffi::AnyBuffer dweights,
                     ffi::Result<ffi::AnyBuffer> v_out, ffi::Result<ffi::AnyBuffer> g_out,
                     ffi::Result<ffi::AnyBuffer> aux_out, ffi::Result<ffi::AnyBuffer> last_out,
                     ffi::Result<ffi::AnyBuffer> buf_out, ffi::Result<ffi::AnyBuffer> counts_out,
                     ffi::Result<ffi::AnyBuffer> spikes_out, int64_t ring, int64_t n_cols,
                     int64_t threads) {
  return by_float_type(v.element_type(), [&](auto zero) {
    return lif_chunk_impl<decltype(zero)>(t, v, g, aux, last, buf, inputs, fparams, iparams,
                                          row_ptr, offset, weight, dcounts, dcols, dweights,
                                          v_out, g_out, aux_out,
                                          last_out, buf_out, counts_out, spikes_out, ring,
                                          n_cols, threads);
  });
}

// ------------------------------------------------------------------ spark_plastic_chunk

// spark_lif_chunk for a network with a plastic block table and a readout trace: the same
// chunk loop, with the plastic deliveries, update, spike history and trace inside it.
template <typename T>
ffi::Error plastic_chunk_impl(
    ffi::AnyBuffer t, ffi::AnyBuffer v, ffi::AnyBuffer g, ffi::AnyBuffer aux,
    ffi::AnyBuffer last, ffi::AnyBuffer buf, ffi::AnyBuffer inputs, ffi::AnyBuffer fparams,
    ffi::AnyBuffer iparams, ffi::AnyBuffer row_ptr, ffi::AnyBuffer offset, ffi::AnyBuffer weight,
    ffi::AnyBuffer dcounts, ffi::AnyBuffer dcols, ffi::AnyBuffer dweights,
    ffi::Result<ffi::AnyBuffer> v_out, ffi::Result<ffi::AnyBuffer> g_out,
    ffi::Result<ffi::AnyBuffer> aux_out, ffi::Result<ffi::AnyBuffer> last_out,
    ffi::Result<ffi::AnyBuffer> buf_out, ffi::AnyBuffer w, ffi::AnyBuffer xp, ffi::AnyBuffer xq,
    ffi::AnyBuffer e, ffi::AnyBuffer history, ffi::AnyBuffer bint, ffi::AnyBuffer bfloat,
    ffi::AnyBuffer trace, ffi::AnyBuffer decay, ffi::AnyBuffer modulator,
    ffi::Result<ffi::AnyBuffer> counts_out,
    ffi::Result<ffi::AnyBuffer> spikes_out, ffi::Result<ffi::AnyBuffer> w_out,
    ffi::Result<ffi::AnyBuffer> xp_out, ffi::Result<ffi::AnyBuffer> xq_out,
    ffi::Result<ffi::AnyBuffer> e_out, ffi::Result<ffi::AnyBuffer> history_out,
    ffi::Result<ffi::AnyBuffer> trace_out, int64_t ring, int64_t n_cols, int64_t threads,
    int64_t modulate) {
  auto o = operands<T>(t, v, g, aux, last, buf, inputs, 2, fparams, iparams, row_ptr, offset,
                       weight, dcounts, dcols, dweights, v_out, g_out, aux_out, last_out, buf_out);
  Shape& sh = o.shape;
  auto counts = result_view<int32_t>(counts_out, 1, sh, "counts (result)");
  auto spikes = result_view<bool>(spikes_out, 2, sh, "spikes (result)");
  PlasticOperands<T> p;
  p.w_i = view<T>(w, 1, sh, "weight");
  p.xp_i = view<T>(xp, 1, sh, "x_pre");
  p.xq_i = view<T>(xq, 1, sh, "x_post");
  p.e_i = view<T>(e, 1, sh, "elig");
  p.history_i = view<bool>(history, 2, sh, "history");
  p.ints = view<int32_t>(bint, 2, sh, "block table (int)");
  p.floats = view<T>(bfloat, 2, sh, "block table (float)");
  p.trace_i = view<T>(trace, 1, sh, "trace");
  p.decay = view<T>(decay, 0, sh, "readout decay");
  p.modulator = view<T>(modulator, 0, sh, "modulator");
  p.modulate = modulate != 0;
  p.w_o = result_view<T>(w_out, 1, sh, "weight (result)");
  p.xp_o = result_view<T>(xp_out, 1, sh, "x_pre (result)");
  p.xq_o = result_view<T>(xq_out, 1, sh, "x_post (result)");
  p.e_o = result_view<T>(e_out, 1, sh, "elig (result)");
  p.history_o = result_view<bool>(history_out, 2, sh, "history (result)");
  p.trace_o = result_view<T>(trace_out, 1, sh, "trace (result)");
  auto dims = inputs.dimensions();
  const int64_t steps = dims.size() >= 2 ? dims[dims.size() - 2] : 0;
  std::string error = check(o, ring, n_cols, steps);
  if (error.empty() && counts.size != o.n_seg) error = "counts must have one entry per segment";
  if (error.empty() && spikes.size != 0 && spikes.size != steps * o.n) {
    error = "spikes must be (k, N) or (0, N)";
  }
  auto hdims = history.dimensions();  // the shape, not only the size (rank checked above)
  if (error.empty() && hdims.size() >= 2 &&
      (hdims[hdims.size() - 2] != ring || hdims[hdims.size() - 1] != o.n + o.n_in)) {
    error = "history must be (ring, N + n_inputs)";
  }
  if (error.empty()) error = p.check(o, ring, n_cols, sh.batch);
  if (!error.empty()) return invalid(error);
  run_chunk(o, counts, spikes, steps, ring, n_cols, threads, &p);
  return ffi::Error::Success();
}

ffi::Error plastic_chunk(
    ffi::AnyBuffer t, ffi::AnyBuffer v, ffi::AnyBuffer g, ffi::AnyBuffer aux,
    ffi::AnyBuffer last, ffi::AnyBuffer buf, ffi::AnyBuffer inputs, ffi::AnyBuffer fparams,
    ffi::AnyBuffer iparams, ffi::AnyBuffer row_ptr, ffi::AnyBuffer offset, ffi::AnyBuffer weight,
    ffi::AnyBuffer dcounts, ffi::AnyBuffer dcols, ffi::AnyBuffer dweights,
    ffi::Result<ffi::AnyBuffer> v_out, ffi::Result<ffi::AnyBuffer> g_out,
    ffi::Result<ffi::AnyBuffer> aux_out, ffi::Result<ffi::AnyBuffer> last_out,
    ffi::Result<ffi::AnyBuffer> buf_out, ffi::AnyBuffer w, ffi::AnyBuffer xp, ffi::AnyBuffer xq,
    ffi::AnyBuffer e, ffi::AnyBuffer history, ffi::AnyBuffer bint, ffi::AnyBuffer bfloat,
    ffi::AnyBuffer trace, ffi::AnyBuffer decay, ffi::AnyBuffer modulator,
    ffi::Result<ffi::AnyBuffer> counts_out,
    ffi::Result<ffi::AnyBuffer> spikes_out, ffi::Result<ffi::AnyBuffer> w_out,
    ffi::Result<ffi::AnyBuffer> xp_out, ffi::Result<ffi::AnyBuffer> xq_out,
    ffi::Result<ffi::AnyBuffer> e_out, ffi::Result<ffi::AnyBuffer> history_out,
    ffi::Result<ffi::AnyBuffer> trace_out, int64_t ring, int64_t n_cols, int64_t threads,
    int64_t modulate) {
  return by_float_type(v.element_type(), [&](auto zero) {
    return plastic_chunk_impl<decltype(zero)>(
        t, v, g, aux, last, buf, inputs, fparams, iparams, row_ptr, offset, weight, dcounts,
        dcols, dweights, v_out, g_out, aux_out, last_out, buf_out, w, xp, xq, e, history, bint,
        bfloat, trace, decay, modulator, counts_out, spikes_out, w_out, xp_out, xq_out, e_out,
        history_out, trace_out, ring, n_cols, threads, modulate);
  });
}

// ------------------------------------------------------------------ spark_plastic_step

// The plastic phase of one step on its own (the scan path of spark/network.py): deliveries
// into `current` (this step's ring row), then the update with this step's spikes.
template <typename T>
ffi::Error plastic_step_impl(ffi::AnyBuffer w_in, ffi::AnyBuffer xp_in, ffi::AnyBuffer xq_in,
                             ffi::AnyBuffer e_in, ffi::AnyBuffer history_in,
                             ffi::AnyBuffer spikes_in, ffi::AnyBuffer t_in,
                             ffi::AnyBuffer current_in, ffi::AnyBuffer bint_in,
                             ffi::AnyBuffer bfloat_in, ffi::Result<ffi::AnyBuffer> w_out,
                             ffi::Result<ffi::AnyBuffer> xp_out, ffi::Result<ffi::AnyBuffer> xq_out,
                             ffi::Result<ffi::AnyBuffer> e_out,
                             ffi::Result<ffi::AnyBuffer> current_out) {
  Shape sh;
  auto w_i = view<T>(w_in, 1, sh, "weight");
  auto xp_i = view<T>(xp_in, 1, sh, "x_pre");
  auto xq_i = view<T>(xq_in, 1, sh, "x_post");
  auto e_i = view<T>(e_in, 1, sh, "elig");
  auto history = view<bool>(history_in, 2, sh, "history");
  auto spikes = view<bool>(spikes_in, 1, sh, "spikes");
  auto t = view<int32_t>(t_in, 0, sh, "t");
  auto cur_i = view<T>(current_in, 1, sh, "current");
  auto bint = view<int32_t>(bint_in, 2, sh, "block table (int)");
  auto bfloat = view<T>(bfloat_in, 2, sh, "block table (float)");
  auto w_o = result_view<T>(w_out, 1, sh, "weight (result)");
  auto xp_o = result_view<T>(xp_out, 1, sh, "x_pre (result)");
  auto xq_o = result_view<T>(xq_out, 1, sh, "x_post (result)");
  auto e_o = result_view<T>(e_out, 1, sh, "elig (result)");
  auto cur_o = result_view<T>(current_out, 1, sh, "current (result)");
  if (!sh.error.empty()) return invalid(sh.error);
  const int64_t size = w_i.size;
  if (xp_i.size != size || xq_i.size != size || e_i.size != size) {
    return invalid("plastic state arrays differ in length");
  }
  auto hdims = history_in.dimensions();
  const int64_t ring = hdims[hdims.size() - 2], n_pre = hdims[hdims.size() - 1];
  const int64_t n_blocks = bint.size / kBlockInts;
  if (ring < 1 || bint.size % kBlockInts || bfloat.size != n_blocks * kBlockFloats) {
    return invalid("block tables must be (blocks, 8) int32 and (blocks, 8) float");
  }
  for (int64_t b = 0; b < sh.batch; ++b) {
    std::string error = check_blocks(bint.at(b), n_blocks, size, n_pre, spikes.size, cur_i.size);
    if (!error.empty()) return invalid(error);
  }
  for (int64_t b = 0; b < sh.batch; ++b) {
    copy_if_apart(w_i.at(b), w_o.at(b), size);
    copy_if_apart(xp_i.at(b), xp_o.at(b), size);
    copy_if_apart(xq_i.at(b), xq_o.at(b), size);
    copy_if_apart(e_i.at(b), e_o.at(b), size);
    copy_if_apart(cur_i.at(b), cur_o.at(b), cur_i.size);
    const PlasticBlocks<T> p{bint.at(b), bfloat.at(b), n_blocks, history.at(b), ring, n_pre,
                             w_o.at(b), xp_o.at(b), xq_o.at(b), e_o.at(b)};
    plastic_deliver(p, *t.at(b), cur_o.at(b));
    plastic_update(p, *t.at(b), spikes.at(b));
  }
  return ffi::Error::Success();
}

ffi::Error plastic_step(ffi::AnyBuffer w, ffi::AnyBuffer xp, ffi::AnyBuffer xq, ffi::AnyBuffer e,
                        ffi::AnyBuffer history, ffi::AnyBuffer spikes, ffi::AnyBuffer t,
                        ffi::AnyBuffer current, ffi::AnyBuffer bint, ffi::AnyBuffer bfloat,
                        ffi::Result<ffi::AnyBuffer> w_out, ffi::Result<ffi::AnyBuffer> xp_out,
                        ffi::Result<ffi::AnyBuffer> xq_out, ffi::Result<ffi::AnyBuffer> e_out,
                        ffi::Result<ffi::AnyBuffer> current_out) {
  return by_float_type(w.element_type(), [&](auto zero) {
    return plastic_step_impl<decltype(zero)>(w, xp, xq, e, history, spikes, t, current, bint,
                                             bfloat, w_out, xp_out, xq_out, e_out, current_out);
  });
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SparkPropagate, propagate,
                              spark_ffi::propagate_operands(ffi::Ffi::Bind()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(SparkLifStep, lif_step,
                              spark_ffi::lif_step_operands(ffi::Ffi::Bind()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(SparkLifChunk, lif_chunk,
                              spark_ffi::lif_chunk_operands(ffi::Ffi::Bind()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(SparkPlasticChunk, plastic_chunk,
                              spark_ffi::plastic_chunk_operands(ffi::Ffi::Bind()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(SparkPlasticStep, plastic_step,
                              spark_ffi::plastic_step_operands(ffi::Ffi::Bind()));

// ------------------------------------------------------------------ direct entry (no XLA)
//
// The chunk of spark_lif_chunk on caller-owned host arrays, one instance, called from
// Python through ctypes (spark/direct.py). Why: in a closed loop at k = 1 the XLA
// executable's dispatch (argument signatures, buffer bookkeeping, seven result arrays)
// costs more than the step itself. Same checks, same loop, same results; the state arrays
// are updated in place and *t advances by `steps`. Sizes are element counts.
extern "C" {

struct SparkDirectChunk {
  int64_t is_double;  // 0: float32 state and parameters, 1: float64
  int64_t ring, n_cols, n_inputs;
  int32_t* t;
  void* v;
  int64_t v_size;
  void* g;
  int64_t g_size;
  void* aux;
  int64_t aux_size;
  int32_t* lastspike;
  int64_t lastspike_size;
  void* buffer;
  int64_t buffer_size;
  const void* fparams;
  int64_t fparams_size;
  const int32_t* iparams;
  int64_t iparams_size;
  const int32_t* row_ptr;
  int64_t row_ptr_size;
  const int32_t* offsets;
  int64_t offsets_size;
  const void* weights;
  int64_t weights_size;
  const uint16_t* drive_counts;
  int64_t drive_counts_size;
  const int32_t* drive_cols;
  int64_t drive_cols_size;
  const void* drive_weights;
  int64_t drive_weights_size;
  int32_t* counts;  // (segments,): spike count per population of the last chunk
  int64_t counts_size;
  // A plastic block table (all sizes 0 without one): state, spike history (ring, N +
  // n_inputs), the tables of spark_plastic_chunk and the chunk's modulator (one entry).
  void* weight;
  int64_t weight_size;
  void* x_pre;
  int64_t x_pre_size;
  void* x_post;
  int64_t x_post_size;
  void* elig;
  int64_t elig_size;
  bool* history;
  int64_t history_size;
  const int32_t* block_ints;
  int64_t block_ints_size;
  const void* block_floats;
  int64_t block_floats_size;
  const void* modulator;
  int64_t modulator_size;
};

}  // extern "C"

namespace {

template <typename T>
View<T> host_view(const void* data, int64_t size) {
  return View<T>{const_cast<T*>(static_cast<const T*>(data)), size, 0};
}

template <typename T>
std::string direct_chunk(const SparkDirectChunk& c, const bool* inputs, int64_t steps,
                         bool* spikes) {
  LifOperands<T> o;
  o.t = host_view<int32_t>(c.t, 1);
  o.v_i = o.v_o = host_view<T>(c.v, c.v_size);
  o.g_i = o.g_o = host_view<T>(c.g, c.g_size);
  o.a_i = o.a_o = host_view<T>(c.aux, c.aux_size);
  o.l_i = o.l_o = host_view<int32_t>(c.lastspike, c.lastspike_size);
  o.b_i = o.b_o = host_view<T>(c.buffer, c.buffer_size);
  o.inputs = host_view<bool>(inputs, steps * c.n_inputs);
  o.fparams = host_view<T>(c.fparams, c.fparams_size);
  o.iparams = host_view<int32_t>(c.iparams, c.iparams_size);
  o.row_ptr = host_view<int32_t>(c.row_ptr, c.row_ptr_size);
  o.offset = host_view<int32_t>(c.offsets, c.offsets_size);
  o.weight = host_view<T>(c.weights, c.weights_size);
  o.drive_counts = host_view<uint16_t>(c.drive_counts, c.drive_counts_size);
  o.drive_cols = host_view<int32_t>(c.drive_cols, c.drive_cols_size);
  o.drive_weights = host_view<T>(c.drive_weights, c.drive_weights_size);
  std::string error = check(o, c.ring, c.n_cols, steps);
  if (error.empty() && c.counts_size != o.n_seg) error = "counts must have one entry per segment";
  if (!error.empty()) return error;
  const View<int32_t> counts = host_view<int32_t>(c.counts, c.counts_size);
  const View<bool> recorded = host_view<bool>(spikes, spikes ? steps * o.n : 0);
  if (c.weight_size == 0) {
    run_chunk(o, counts, recorded, steps, c.ring, c.n_cols, 1);
  } else {  // the plastic chunk, as spark_plastic_chunk with a modulator and no trace
    PlasticOperands<T> p;
    p.w_i = p.w_o = host_view<T>(c.weight, c.weight_size);
    p.xp_i = p.xp_o = host_view<T>(c.x_pre, c.x_pre_size);
    p.xq_i = p.xq_o = host_view<T>(c.x_post, c.x_post_size);
    p.e_i = p.e_o = host_view<T>(c.elig, c.elig_size);
    p.history_i = p.history_o = host_view<bool>(c.history, c.history_size);
    p.ints = host_view<int32_t>(c.block_ints, c.block_ints_size);
    p.floats = host_view<T>(c.block_floats, c.block_floats_size);
    p.trace_i = p.trace_o = host_view<T>(nullptr, 0);
    p.modulator = host_view<T>(c.modulator, c.modulator_size);
    p.modulate = true;
    error = p.check(o, c.ring, c.n_cols, 1);
    if (!error.empty()) return error;
    run_chunk(o, counts, recorded, steps, c.ring, c.n_cols, 1, &p);
  }
  *c.t += static_cast<int32_t>(steps);
  return "";
}

}  // namespace

// The struct's size, for the Python binding to check its own layout against.
extern "C" int64_t spark_direct_chunk_size() { return sizeof(SparkDirectChunk); }

// 0 on success; otherwise the reason, truncated to `error_size` bytes, in `error`.
extern "C" int64_t spark_lif_chunk_direct(const SparkDirectChunk* c, const bool* inputs,
                                          int64_t steps, bool* spikes, char* error,
                                          int64_t error_size) {
  const std::string message = c->is_double ? direct_chunk<double>(*c, inputs, steps, spikes)
                                           : direct_chunk<float>(*c, inputs, steps, spikes);
  if (message.empty()) return 0;
  if (error_size > 0) {
    const std::string full = "spark native kernel: " + message;
    const size_t n = std::min<size_t>(full.size(), static_cast<size_t>(error_size - 1));
    std::memcpy(error, full.data(), n);
    error[n] = '\0';
  }
  return 1;
}
