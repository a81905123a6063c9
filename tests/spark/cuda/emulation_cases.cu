// Small kernels that check spark/native/cuda_emulation.h itself (tests/spark/test_cuda_emulation.py):
// compiled as C++ with the emulation, each case returns 0 when the emulated CUDA behaved as
// the hardware would, else a nonzero code; launch errors come back as the message.

#include "cuda_emulation.h"

#include <cstdio>
#include <vector>

namespace {

// Inclusive warp scan with __shfl_up_sync, then a block barrier and a read of the next
// thread's result: the patterns of kernels_cuda.cu's block scan.
__global__ void scan_kernel(int* out, int* next) {
  __shared__ int values[1024];
  int x = static_cast<int>(threadIdx.x);
  const int lane = threadIdx.x & 31;
  for (int d = 1; d < 32; d <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, d);
    if (lane >= d) x += y;
  }
  values[threadIdx.x] = x;
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = x;
  next[blockIdx.x * blockDim.x + threadIdx.x] = values[(threadIdx.x + 1) % blockDim.x];
}

// The same read with no barrier: some thread reads its neighbour's slot before the
// neighbour wrote it (what the emulation's fiber order is there to expose).
__global__ void racy_kernel(int* next) {
  __shared__ int values[1024];
  values[threadIdx.x] = static_cast<int>(threadIdx.x) + 1 + 1000 * static_cast<int>(blockIdx.x);
  next[blockIdx.x * blockDim.x + threadIdx.x] = values[(threadIdx.x + 1) % blockDim.x];
  __syncthreads();
  values[threadIdx.x] = 0;  // what a later block finds before it writes
}

__global__ void divergent_kernel() {
  if (threadIdx.x < 512) __syncthreads();
}

__global__ void partial_warp_kernel(int* out) {
  if ((threadIdx.x & 31) < 16) out[threadIdx.x] = __shfl_up_sync(0xffffffffu, 1, 1);
}

__global__ void atomic_kernel(double* sum, int* count) {
  atomicAdd(sum, 0.5);
  atomicAdd(count, 1);
}

int message(char* buf, int size, int code) {
  std::snprintf(buf, size, "%s", cudaGetErrorString(cudaGetLastError()));
  return code;
}

}  // namespace

extern "C" int emulation_case(int which, char* msg, int size) {
  msg[0] = '\0';
  const unsigned threads = 1024, blocks = 3;
  std::vector<int> out(blocks * threads, -1), next(blocks * threads, -1);
  switch (which) {
    case 0: {  // scan, barrier, block coordinates
      spark_emulation::launch(blocks, threads, [&] { scan_kernel(out.data(), next.data()); });
      if (cudaGetLastError() != cudaSuccess) return 1;
      for (unsigned b = 0; b < blocks; ++b) {
        for (unsigned t = 0; t < threads; ++t) {
          const int lane = t & 31, first = t - lane;
          const int expect = (lane + 1) * first + lane * (lane + 1) / 2;
          if (out[b * threads + t] != expect) return 2;
          const unsigned u = (t + 1) % threads;
          const int lu = u & 31, fu = u - lu;
          if (next[b * threads + t] != (lu + 1) * fu + lu * (lu + 1) / 2) return 3;
        }
      }
      return 0;
    }
    case 1: {  // no barrier: a stale neighbour in ascending, then in descending order
      int stale[2] = {0, 0};
      for (int run = 0; run < 2; ++run) {
        spark_emulation::launch(1, threads, [&] { racy_kernel(next.data()); });
        if (cudaGetLastError() != cudaSuccess) return 1;
        for (unsigned t = 0; t < threads; ++t) {
          stale[run] += next[t] != static_cast<int>((t + 1) % threads) + 1;
        }
      }
      return stale[0] > 0 && stale[1] > 0 ? 0 : 4;
    }
    case 2:
      spark_emulation::launch(2, threads, [&] { divergent_kernel(); });
      return message(msg, size, 0);
    case 3:
      spark_emulation::launch(1, 64, [&] { partial_warp_kernel(out.data()); });
      return message(msg, size, 0);
    case 4: {
      double sum = 0;
      int count = 0;
      spark_emulation::launch(blocks, threads, [&] { atomic_kernel(&sum, &count); });
      if (cudaGetLastError() != cudaSuccess) return 1;
      return sum == 0.5 * blocks * threads && count == static_cast<int>(blocks * threads) ? 0 : 5;
    }
    default:
      return 99;
  }
}
