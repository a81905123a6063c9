// spark-bench: the resident brian2cuda binary's device side (see adapters/brian2/cuda.py).
// The pipe protocol is the C++ one (spark_host_io.h); what differs on CUDA is that the
// input group's threshold runs in a kernel, so each chunk's dense (k, n_inputs) input
// spikes are copied host -> device before the chunk, and the spike monitors' device
// vectors are copied back after it. Every CUDA call is checked: an error is printed to
// stderr ("spark: CUDA error in ...") and the caller exits, so the host sees EOF.
#ifndef SPARK_CUDA_IO_H
#define SPARK_CUDA_IO_H
#include <stdint.h>
#include <stddef.h>
#include <vector>
#include <cuda_runtime.h>
#include <thrust/device_vector.h>
#include "spark_host_io.h"

// What the threshold kernel of the input group reads: this chunk's input rows on the device.
struct SparkDeviceChunk {
    const unsigned char* input;  // device pointer, len * n_inputs bytes, row-major
    int64_t start;               // absolute step of row 0
    int64_t len;                 // k
    int64_t n_inputs;
};
extern __device__ SparkDeviceChunk spark_device_chunk;

namespace spark_cuda_io {
// Prints "spark: CUDA error in <what>: <name> (<description>)" to stderr; false on error.
bool check(cudaError_t err, const char* what);
// Copies `k` rows of `n_inputs` bytes (host) to the device buffer (grown as needed) and
// points spark_device_chunk at them (start = absolute step of row 0). False on error.
bool upload_chunk(const unsigned char* rows, int64_t start, int64_t k, int64_t n_inputs);
// Frees the device buffer.
void release();

// out = dev[from:to) (a thrust device vector, e.g. a SpikeMonitor's dev_dynamic_array_...).
template <typename V>
bool copy_tail(const V& dev, size_t from, size_t to,
               std::vector<typename V::value_type>& out, const char* what) {
    typedef typename V::value_type T;
    out.resize(to > from ? to - from : 0);
    if (to <= from) return true;
    if (to > dev.size()) {
        std::fprintf(stderr, "spark: %s: asked for [%zu, %zu) of %zu elements\n", what, from, to,
                     (size_t)dev.size());
        return false;
    }
    const T* src = thrust::raw_pointer_cast(dev.data()) + from;
    return check(cudaMemcpy(out.data(), src, (to - from) * sizeof(T), cudaMemcpyDeviceToHost), what);
}
}  // namespace spark_cuda_io

// The input group's threshold: did input i spike at absolute step `step`? (0 on the host.)
__host__ __device__ static inline int32_t spark_device_input(const int32_t i, const int64_t step) {
#if defined(__CUDA_ARCH__)
    const int64_t row = step - spark_device_chunk.start;
    if (row < 0 || row >= spark_device_chunk.len || i < 0 || i >= spark_device_chunk.n_inputs)
        return 0;
    return spark_device_chunk.input[row * spark_device_chunk.n_inputs + i] != 0 ? 1 : 0;
#else
    return 0;
#endif
}
#endif
