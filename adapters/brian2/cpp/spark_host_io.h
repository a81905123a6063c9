// spark-bench: host <-> resident Brian2 binary exchange (see adapters/brian2/cpp_resident.py).
// The binary reads chunk commands from stdin and writes results to the file descriptor
// named by the SPARK_RESULT_FD environment variable. All integers little-endian int64.
#ifndef SPARK_HOST_IO_H
#define SPARK_HOST_IO_H
#include <stdint.h>
#include <stddef.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace spark_io {
extern std::vector<unsigned char> input;  // dense (k, n_inputs) spikes of this chunk
extern int64_t chunk_start;               // absolute step of row 0
extern int64_t chunk_len;                 // k
extern int64_t n_inputs;
bool read_exact(void* buf, size_t n);     // from stdin; false at EOF
void write_exact(const void* buf, size_t n);
void flush();
void open_result_fd();
}

// Called by the input group's threshold at every step: did input i spike at this step?
static inline int32_t spark_host_input(const int32_t i, const int64_t step) {
    const int64_t row = step - spark_io::chunk_start;
    if (row < 0 || row >= spark_io::chunk_len || i < 0 || i >= spark_io::n_inputs) return 0;
    return spark_io::input[(size_t)row * (size_t)spark_io::n_inputs + (size_t)i] != 0 ? 1 : 0;
}
#endif
