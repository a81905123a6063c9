// spark-bench: definitions for spark_host_io.h.
#include "spark_host_io.h"
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <unistd.h>

namespace spark_io {
std::vector<unsigned char> input;
int64_t chunk_start = 0;
int64_t chunk_len = 0;
int64_t n_inputs = 0;
static int result_fd = -1;
static std::vector<char> out_buf;

void open_result_fd() {
    const char* s = std::getenv("SPARK_RESULT_FD");
    if (!s) { std::fprintf(stderr, "spark: SPARK_RESULT_FD not set\n"); std::exit(3); }
    result_fd = std::atoi(s);
}

bool read_exact(void* buf, size_t n) {
    char* p = static_cast<char*>(buf);
    while (n > 0) {
        ssize_t r = ::read(0, p, n);
        if (r == 0) return false;
        if (r < 0) { if (errno == EINTR) continue; return false; }
        p += r; n -= (size_t)r;
    }
    return true;
}

void write_exact(const void* buf, size_t n) {
    const char* p = static_cast<const char*>(buf);
    out_buf.insert(out_buf.end(), p, p + n);
}

void flush() {
    const char* p = out_buf.data();
    size_t n = out_buf.size();
    while (n > 0) {
        ssize_t w = ::write(result_fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; std::exit(4); }
        p += w; n -= (size_t)w;
    }
    out_buf.clear();
}
}
