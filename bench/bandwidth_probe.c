/* An independent check of `qlinear bench`'s stream_read: the plainest OpenMP streaming
 * read (a 32-bit integer sum, which compilers vectorize; static schedule) over an array of 1 GiB, larger than twice the last-level
 * cache of the development machine. Prints the median GB/s of 9 passes per thread count.
 *
 *   cc -O3 -fopenmp bench/bandwidth_probe.c -o /tmp/bandwidth_probe && /tmp/bandwidth_probe 1 2
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  const long n = (1L << 30) / sizeof(unsigned);
  unsigned* a = malloc(n * sizeof(unsigned));
  if (!a) return 1;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; ++i) a[i] = 1u;
  for (int arg = 1; arg < argc; ++arg) {
    const int threads = atoi(argv[arg]);
    double gbps[9];
    unsigned sink = 0;
    for (int rep = 0; rep < 9; ++rep) {
      const double t0 = omp_get_wtime();
      unsigned sum = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum) num_threads(threads)
      for (long i = 0; i < n; ++i) sum += a[i];
      gbps[rep] = n * sizeof(unsigned) / ((omp_get_wtime() - t0) * 1e9);
      sink += sum;
    }
    qsort(gbps, 9, sizeof(double), by_value);
    printf("openmp_read threads=%d median %.1f GB/s (min %.1f, max %.1f)%s\n", threads, gbps[4],
           gbps[0], gbps[8], sink == 1 ? "!" : "");
  }
  free(a);
  return 0;
}
