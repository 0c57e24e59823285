// A small persistent thread pool for splitting one call's independent work (batch
// rows, the two directions of a Bidirectional layer) across cores.
#pragma once

#include <functional>

namespace pyrnn {

void set_num_threads(int n);  // n >= 1: how many threads a call may use (caller included)
int num_threads();

// Runs fn(i) for every i in [0, n) and returns when all are done; the calling thread
// takes part. When the pool is already serving another call (another Python thread,
// or a nested call), the work runs inline on the caller instead of waiting: calls
// never block each other and never deadlock. The first exception thrown is rethrown.
void parallel_for(int n, const std::function<void(int)>& fn);

}  // namespace pyrnn
