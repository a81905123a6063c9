// The closed-loop input stream's per-chunk work in one call (see inputs_native.py: why, and
// how it stays bit-identical to the numpy formulas in inputs.py).
//
// One chunk: the previous chunk's readout counts -> a rate per readout channel (the
// controller of PoissonInput) -> a spike probability per channel -> per input neuron
// (input i listens to channel i % n_channels) -> k x n_inputs spikes, u < probability,
// from the uniforms fixed by the input seed.
//
// Every operation is the IEEE operation numpy performs, in numpy's order: built with
// -ffp-contract=off (no fused multiply-add), the mean as numpy's add.reduce sums it (the
// pairwise sum of all values, from -0.0), maximum / minimum with numpy's NaN rule.
#include <cmath>
#include <cstdint>

extern "C" {

// Field for field the ctypes structure in inputs_native.py (its size is checked there).
struct SparkInputStream {
  int64_t n_channels;
  int64_t n_inputs;
  int64_t n_steps;
  double rate;      // Hz, before feedback
  double gain;      // feedback gain (0: the rate is constant)
  double max_rate;  // Hz, upper clip
  double p_per_hz;  // spike probability per Hz per step (dt in s)
  const double* sizes;      // n_channels: neurons per readout population
  const double* uniforms;   // n_steps x n_inputs
  const double* counts;     // n_channels: the last chunk's readout counts
  double* channel_p;        // n_channels: out, spike probability per channel
  double* input_p;          // n_inputs: scratch, spike probability per input
  double* per_neuron;       // n_channels: scratch, counts per neuron
  bool* spikes;             // n_steps x n_inputs: out, row t = step t
};

int64_t spark_input_stream_size() { return sizeof(SparkInputStream); }

}  // extern "C"

namespace {

// numpy's pairwise summation of n contiguous doubles (numpy/_core/src/umath/loops_utils.h:
// a plain loop below 8 values, eight accumulators up to 128, halves above).
double pairwise_sum(const double* a, int64_t n) {
  if (n < 8) {
    double res = -0.0;
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t half = n / 2;
  half -= half % 8;
  return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

// numpy.maximum / numpy.minimum: a NaN in the first operand propagates.
inline double np_maximum(double a, double b) { return (a >= b || std::isnan(a)) ? a : b; }
inline double np_minimum(double a, double b) { return (a <= b || std::isnan(a)) ? a : b; }

}  // namespace

extern "C" {

// Fill s->spikes rows [position, position + k). feedback = 0: the first chunk (or a
// controller without feedback): every channel at the base rate. Returns 0; 1 when the
// chunk runs past the stream's end, 2 without a channel (nothing written either way).
int64_t spark_input_chunk(const SparkInputStream* s, int64_t feedback, int64_t position,
                          int64_t k) {
  if (position < 0 || k < 0 || position + k > s->n_steps) return 1;
  if (s->n_channels < 1) return 2;
  const int64_t nc = s->n_channels, ni = s->n_inputs;
  if (!feedback || s->gain == 0.0) {
    for (int64_t j = 0; j < nc; ++j) s->channel_p[j] = s->rate * s->p_per_hz;
  } else {
    double* c = s->per_neuron;
    for (int64_t j = 0; j < nc; ++j) c[j] = s->counts[j] / s->sizes[j];
    const double mean = pairwise_sum(c, nc) / static_cast<double>(nc);
    const double denominator = mean + 1.0;
    for (int64_t j = 0; j < nc; ++j) {
      const double rate = s->rate * (1.0 + s->gain * (c[j] - mean) / denominator);
      s->channel_p[j] = np_minimum(np_maximum(rate, 0.0), s->max_rate) * s->p_per_hz;
    }
  }
  double* p = s->input_p;
  for (int64_t i = 0, j = 0; i < ni; ++i) {
    p[i] = s->channel_p[j];
    if (++j == nc) j = 0;
  }
  const double* u = s->uniforms + position * ni;
  bool* out = s->spikes + position * ni;
  for (int64_t q = 0; q < k; ++q) {
    for (int64_t i = 0; i < ni; ++i) out[q * ni + i] = u[q * ni + i] < p[i];
  }
  return 0;
}

}  // extern "C"
