// What bounds the native kernel's propagation on one core: the kernel's synapse walk on
// a real network's tables and spikes (written by propagation_floor.py), timed in
// variants that each remove one cost. Not part of the library; see the script.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

template <class T>
std::vector<T> load(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) { std::perror(path.c_str()); std::exit(2); }
  std::fseek(f, 0, SEEK_END);
  std::vector<T> v(std::ftell(f) / sizeof(T));
  std::fseek(f, 0, SEEK_SET);
  if (std::fread(v.data(), sizeof(T), v.size(), f) != v.size()) std::exit(2);
  std::fclose(f);
  return v;
}

// The whole row (at most 64 lines, as the kernel above 16 MB of tables), or its first 4
// lines (as the kernel before 2026-12-05 (6)).
template <class E>
inline void prefetch(const E* begin, const E* end, bool whole) {
  const char* c = reinterpret_cast<const char*>(begin);
  if (!whole) {
    for (int line = 0; line < 4; ++line) __builtin_prefetch(c + 64 * line, 0, 0);
    return;
  }
  const char* stop = std::min(reinterpret_cast<const char*>(end), c + 64 * 64);
  for (; c < stop; c += 64) __builtin_prefetch(c, 0, 1);
}

enum Variant { kWholeRow, kHeadOnly, kNoPrefetch, kReadOnly, kCachedRows, kVariants };
const char* kNames[] = {
    "whole next row prefetched (<= 64 lines)", "next row's first 4 lines prefetched",
    "no software prefetch", "rows read, nothing accumulated", "rows cached (256 rows reused)"};

struct Data {
  int64_t ring, n_cols, n_steps;
  std::vector<int32_t> row_ptr, offset, rows;  // rows: spiking rows, step-major
  std::vector<int64_t> step_start;
  std::vector<float> weight;
};

double run(const Data& d, Variant v, std::vector<float>& buffer, double& sink) {
  const int64_t size = d.ring * d.n_cols;
  std::fill(buffer.begin(), buffer.end(), 0.0f);
  const int32_t* rp = d.row_ptr.data();
  const int32_t* off = d.offset.data();
  const float* w = d.weight.data();
  float acc = 0.0f;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t t = 0; t < d.n_steps; ++t) {
    const int64_t base = (t % d.ring) * d.n_cols;
    std::memset(&buffer[base], 0, d.n_cols * sizeof(float));  // the update consumes the row
    const int64_t first = d.step_start[t], last = d.step_start[t + 1];
    for (int64_t a = first; a < last; ++a) {
      const int32_t p = v == kCachedRows ? d.rows[a] % 256 : d.rows[a];
      if (a + 1 < last && (v == kWholeRow || v == kHeadOnly || v == kReadOnly)) {
        const int32_t q = d.rows[a + 1];
        prefetch(off + rp[q], off + rp[q + 1], v != kHeadOnly);
        prefetch(w + rp[q], w + rp[q + 1], v != kHeadOnly);
      }
      if (v == kReadOnly) {
        for (int32_t s = rp[p]; s < rp[p + 1]; ++s) acc += w[s] + static_cast<float>(off[s]);
        continue;
      }
      for (int32_t s = rp[p]; s < rp[p + 1]; ++s) {
        const int64_t o = base + off[s];
        buffer[o - (o >= size ? size : 0)] += w[s];
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  sink += acc;
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) { std::fprintf(stderr, "usage: %s DIR REPEATS\n", argv[0]); return 2; }
  const std::string dir = argv[1];
  Data d;
  FILE* meta = std::fopen((dir + "/meta.txt").c_str(), "r");
  if (!meta || std::fscanf(meta, "%ld %ld %ld", &d.ring, &d.n_cols, &d.n_steps) != 3) return 2;
  std::fclose(meta);
  d.row_ptr = load<int32_t>(dir + "/row_ptr.bin");
  d.offset = load<int32_t>(dir + "/offsets.bin");
  d.weight = load<float>(dir + "/weights.bin");
  d.rows = load<int32_t>(dir + "/rows.bin");
  const auto steps = load<int32_t>(dir + "/steps.bin");
  d.step_start.assign(d.n_steps + 1, 0);
  for (const int32_t s : steps) ++d.step_start[s + 1];
  for (int64_t t = 0; t < d.n_steps; ++t) d.step_start[t + 1] += d.step_start[t];
  std::vector<float> buffer(d.ring * d.n_cols);
  double sink = 0.0;
  const int repeats = std::atoi(argv[2]);
  std::vector<double> best(kVariants, 1e300);
  for (int r = 0; r < repeats; ++r) {  // variants interleaved, best of the repeats
    for (int v = 0; v < kVariants; ++v) {
      best[v] = std::min(best[v], run(d, static_cast<Variant>(v), buffer, sink));
    }
  }
  for (int v = 0; v < kVariants; ++v) {
    std::printf("%s\t%.6f\n", kNames[v], best[v]);
  }
  return sink == 1.25 ? 1 : 0;  // keeps the read-only sum alive
}
