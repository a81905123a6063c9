// spark.neurons.pinned_exp for the native kernels: one source for the CPU (kernels.cc) and
// the GPU (kernels_cuda.cu, also under its CPU emulation), so that AdEx's exponential rounds
// alike everywhere. Operation for operation (same literals, same order, SPARK_FMA where
// XLA:CPU contracts): clamp, n = round_half_even(x * log2 e), r = (x - n ln2_hi) - n ln2_lo
// (n * ln2_hi is exact, so contracting the first one or not changes nothing), Horner in r
// over 1/k!, times 2^(n >> 1) and 2^(n - (n >> 1)), 0 below the smallest normal number.
//
// The including file defines SPARK_FMA(a, b, c) first (std::fma, CUDA's fma, or a * b + c).

#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define SPARK_HOST_DEVICE __host__ __device__
#else
#define SPARK_HOST_DEVICE
#endif

namespace spark_exp {

template <typename T>
struct ExpConsts;

template <>
struct ExpConsts<double> {
  using Bits = uint64_t;
  static constexpr int kDegree = 13, kBias = 1023, kMantissa = 52;
  static constexpr double kLo = -760.0, kHi = 710.0;
  static constexpr double kLn2Hi = 0.6931471803691238, kLn2Lo = 1.9082149292705877e-10;
  static constexpr double kMinNormal = 0x1p-1022;
};

template <>
struct ExpConsts<float> {
  using Bits = uint32_t;
  static constexpr int kDegree = 7, kBias = 127, kMantissa = 23;
  static constexpr double kLo = -104.0, kHi = 89.0;
  static constexpr double kLn2Hi = 0.693359375, kLn2Lo = -2.12194440e-4;
  static constexpr float kMinNormal = 0x1p-126f;
};

constexpr double inverse_factorial(int k) {
  double f = 1.0;
  for (int j = 2; j <= k; ++j) f *= j;  // exact for k <= 18
  return 1.0 / f;
}

// 1/k! rounded to double (k! is exact), a compile-time scalar (usable in device code).
template <int K>
constexpr double kInverseFactorial = inverse_factorial(K);

// p = fma(p, r, 1/k!) for k = K, K - 1, ..., 0, unrolled at compile time.
template <typename T, int K>
SPARK_HOST_DEVICE inline T horner(T p, T r) {
  if constexpr (K < 0) {
    return p;
  } else {
    return horner<T, K - 1>(SPARK_FMA(p, r, T(kInverseFactorial<K>)), r);
  }
}

template <typename T>
SPARK_HOST_DEVICE inline T round_half_even(T x) {
#if defined(__CUDA_ARCH__)
  return rint(x);
#else
  return std::nearbyint(x);
#endif
}

template <typename T>
SPARK_HOST_DEVICE inline T power_of_two(int32_t e) {
  using C = ExpConsts<T>;
  const typename C::Bits bits = static_cast<typename C::Bits>(e + C::kBias) << C::kMantissa;
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == sizeof(float)) {
    return __uint_as_float(bits);
  } else {
    return __longlong_as_double(static_cast<long long>(bits));
  }
#else
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
#endif
}

template <typename T>
SPARK_HOST_DEVICE inline T pinned_exp(T x) {
  using C = ExpConsts<T>;
  x = x < T(C::kLo) ? T(C::kLo) : x;  // NaN stays NaN
  x = x > T(C::kHi) ? T(C::kHi) : x;
  const T n = round_half_even(x * T(1.4426950408889634));
  T r = SPARK_FMA(-n, T(C::kLn2Hi), x);
  r = SPARK_FMA(-n, T(C::kLn2Lo), r);
  const T p = horner<T, C::kDegree - 1>(T(kInverseFactorial<C::kDegree>), r);
  const int32_t ni = n == n ? static_cast<int32_t>(n) : 0;  // NaN: p is NaN anyway
  const int32_t n1 = ni >> 1;
  const T out = (p * power_of_two<T>(n1)) * power_of_two<T>(ni - n1);
  // Below the smallest normal number: 0, as pinned_exp says (not left to the FTZ mode).
  return out < T(C::kMinNormal) ? T(0) : out;
}

}  // namespace spark_exp
