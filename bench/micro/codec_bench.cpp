// Placeholder; replaced by the codec micro-benchmarks.
#include <benchmark/benchmark.h>
BENCHMARK_MAIN();
