// The operand lists of the native kernels' XLA FFI handlers, one source for kernels.cc and
// kernels_cuda.cu: each function appends one handler's operands, results and attributes to
// a binding (an rvalue: XLA's bindings only move) that already holds the platform's
// contexts (none on the CPU; the CUDA stream and XLA's scratch allocator on the GPU). The
// CPU and GPU handlers of a target must take the same operands (spark/native/__init__.py
// calls either by one name), so they are written once, here.

#pragma once

#include <cstdint>
#include <utility>

#include "xla/ffi/api/ffi.h"

namespace spark_ffi {

using Buffer = xla::ffi::AnyBuffer;

// spark_propagate: the given spikes' rows into the ring buffer.
template <typename B>
auto propagate_operands(B&& binding) {
  return std::forward<B>(binding)
      .template Arg<Buffer>()  // buffer
      .template Arg<Buffer>()  // spikes (bool)
      .template Arg<Buffer>()  // t (int32 scalar)
      .template Arg<Buffer>()  // row_ptr (int32)
      .template Arg<Buffer>()  // offsets (int32)
      .template Arg<Buffer>()  // weights
      .template Ret<Buffer>()  // buffer (aliased)
      .template Attr<int64_t>("ring")
      .template Attr<int64_t>("n_cols");
}

// What the fused handlers share: the state, the inputs, the parameter tables and the
// synapse rows, then the five updated state buffers (aliased to their inputs).
template <typename B>
auto lif_operands(B&& binding) {
  return std::forward<B>(binding)
      .template Arg<Buffer>()   // t (int32 scalar)
      .template Arg<Buffer>()   // v
      .template Arg<Buffer>()   // g
      .template Arg<Buffer>()   // aux
      .template Arg<Buffer>()   // lastspike
      .template Arg<Buffer>()   // buffer
      .template Arg<Buffer>()   // input spikes: (n_in,) for a step, (k, n_in) for a chunk
      .template Arg<Buffer>()   // float parameters (S, 6 + 2 max(R, 1) [+ 9 Euler columns])
      .template Arg<Buffer>()   // int32 parameters (S, 5)
      .template Arg<Buffer>()   // row_ptr
      .template Arg<Buffer>()   // offsets
      .template Arg<Buffer>()   // weights
      .template Arg<Buffer>()   // drive counts (uint16, (drive steps, M))
      .template Arg<Buffer>()   // drive columns (int32, (M,))
      .template Arg<Buffer>()   // drive weights (M,)
      .template Ret<Buffer>()   // v
      .template Ret<Buffer>()   // g
      .template Ret<Buffer>()   // aux
      .template Ret<Buffer>()   // lastspike
      .template Ret<Buffer>();  // buffer
}

// spark_lif_step: one step, and which neurons spiked.
template <typename B>
auto lif_step_operands(B&& binding) {
  return lif_operands(std::forward<B>(binding))
      .template Ret<Buffer>()  // spiked (bool)
      .template Attr<int64_t>("ring")
      .template Attr<int64_t>("n_cols");
}

// spark_lif_chunk: k steps, spike counts per segment, the spikes when recording.
template <typename B>
auto lif_chunk_operands(B&& binding) {
  return lif_operands(std::forward<B>(binding))
      .template Ret<Buffer>()  // counts per segment (int32)
      .template Ret<Buffer>()  // spikes (bool, (k, N) or (0, N))
      .template Attr<int64_t>("ring")
      .template Attr<int64_t>("n_cols")
      .template Attr<int64_t>("threads");
}

// spark_plastic_chunk: spark_lif_chunk with a plastic block table, history and trace.
template <typename B>
auto plastic_chunk_operands(B&& binding) {
  return lif_operands(std::forward<B>(binding))
      .template Arg<Buffer>()  // weight
      .template Arg<Buffer>()  // x_pre
      .template Arg<Buffer>()  // x_post
      .template Arg<Buffer>()  // elig
      .template Arg<Buffer>()  // history (bool, (ring, N + n_in))
      .template Arg<Buffer>()  // blocks (int32, (blocks, 8))
      .template Arg<Buffer>()  // blocks (float, (blocks, 8))
      .template Arg<Buffer>()  // readout trace (N or 0)
      .template Arg<Buffer>()  // readout decay (scalar)
      .template Arg<Buffer>()  // modulator (scalar)
      .template Ret<Buffer>()  // counts per segment (int32)
      .template Ret<Buffer>()  // spikes (bool, (k, N) or (0, N))
      .template Ret<Buffer>()  // weight (aliased)
      .template Ret<Buffer>()  // x_pre (aliased)
      .template Ret<Buffer>()  // x_post (aliased)
      .template Ret<Buffer>()  // elig (aliased)
      .template Ret<Buffer>()  // history (aliased)
      .template Ret<Buffer>()  // trace (aliased)
      .template Attr<int64_t>("ring")
      .template Attr<int64_t>("n_cols")
      .template Attr<int64_t>("threads")
      .template Attr<int64_t>("modulate");
}

// spark_plastic_step: the plastic phase of one step on its own.
template <typename B>
auto plastic_step_operands(B&& binding) {
  return std::forward<B>(binding)
      .template Arg<Buffer>()   // weight
      .template Arg<Buffer>()   // x_pre
      .template Arg<Buffer>()   // x_post
      .template Arg<Buffer>()   // elig
      .template Arg<Buffer>()   // history (bool, (D, n_pre))
      .template Arg<Buffer>()   // this step's neuron spikes (bool)
      .template Arg<Buffer>()   // t (int32 scalar)
      .template Arg<Buffer>()   // current: this step's ring row
      .template Arg<Buffer>()   // blocks (int32, (blocks, 8))
      .template Arg<Buffer>()   // blocks (float, (blocks, 8))
      .template Ret<Buffer>()   // weight (aliased)
      .template Ret<Buffer>()   // x_pre (aliased)
      .template Ret<Buffer>()   // x_post (aliased)
      .template Ret<Buffer>()   // elig (aliased)
      .template Ret<Buffer>();  // current (aliased)
}

}  // namespace spark_ffi
