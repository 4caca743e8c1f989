// Process-level settings that must be in place before the OpenMP runtime starts, and what the
// process has used.
#pragma once

namespace gapbench {

// gapbench mixes OpenMP (generation) with OpenBLAS's own thread pool (products). With libgomp's
// default wait policy, idle OpenMP threads spin and take the cores from OpenBLAS's threads: on
// this 2-core machine a T = 256 Lanczos solve took 3 to 12 ms instead of 1.1 ms. libgomp reads
// OMP_WAIT_POLICY when it loads, before main, so when the user has not chosen a policy this
// re-executes the program once with OMP_WAIT_POLICY=PASSIVE (idle threads sleep). Returns when
// the policy is already set (or the re-exec failed, which only costs speed).
void ensure_passive_openmp(char** argv);

// The peak resident memory of this process so far (getrusage's ru_maxrss), in bytes.
double peak_resident_bytes();

}  // namespace gapbench
