// spark-bench: definitions for spark_cuda_io.h (compiled by nvcc with -dc, as every file of
// a brian2cuda project: spark_device_chunk is a relocatable __device__ symbol read by the
// input group's threshold kernel in another translation unit).
#include "spark_cuda_io.h"
#include <cstdio>
// The pipe helpers (spark_io::read_exact, write_exact, flush, open_result_fd), compiled
// here so that the whole host I/O is one nvcc translation unit.
#include "spark_host_io.cpp"

__device__ SparkDeviceChunk spark_device_chunk = {nullptr, 0, 0, 0};

namespace spark_cuda_io {
static unsigned char* dev_buffer = nullptr;
static size_t dev_capacity = 0;

bool check(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return true;
    std::fprintf(stderr, "spark: CUDA error in %s: %s (%s)\n", what, cudaGetErrorName(err),
                 cudaGetErrorString(err));
    std::fflush(stderr);
    return false;
}

bool upload_chunk(const unsigned char* rows, int64_t start, int64_t k, int64_t n_inputs) {
    if (k < 0 || n_inputs < 0) {
        std::fprintf(stderr, "spark: bad chunk k=%lld n_inputs=%lld\n", (long long)k,
                     (long long)n_inputs);
        return false;
    }
    const size_t bytes = (size_t)k * (size_t)n_inputs;
    if (bytes > dev_capacity) {
        if (dev_buffer != nullptr) {
            if (!check(cudaFree(dev_buffer), "cudaFree(input buffer)")) return false;
            dev_buffer = nullptr;
            dev_capacity = 0;
        }
        if (!check(cudaMalloc((void**)&dev_buffer, bytes), "cudaMalloc(input buffer)")) return false;
        dev_capacity = bytes;
    }
    if (bytes > 0 &&
        !check(cudaMemcpy(dev_buffer, rows, bytes, cudaMemcpyHostToDevice),
               "cudaMemcpy(input rows, host -> device)"))
        return false;
    SparkDeviceChunk chunk;
    chunk.input = dev_buffer;
    chunk.start = start;
    chunk.len = k;
    chunk.n_inputs = n_inputs;
    return check(cudaMemcpyToSymbol(spark_device_chunk, &chunk, sizeof(chunk)),
                 "cudaMemcpyToSymbol(spark_device_chunk)");
}

void release() {
    if (dev_buffer != nullptr) check(cudaFree(dev_buffer), "cudaFree(input buffer)");
    dev_buffer = nullptr;
    dev_capacity = 0;
}
}  // namespace spark_cuda_io
