// Named points where a test may stop a run, so that crash-and-resume tests kill it at exactly
// that point instead of after a guessed sleep (tests/crash/).
//
//   GAPBENCH_TEST_PAUSE_AT=<point>[:<n>]
//
// makes the n-th arrival (default the first) at <point> print "gapbench: paused at <point>" on
// stderr and stop the process with SIGSTOP; the test waits for the stop and sends SIGKILL. Without
// the variable a point costs one comparison. The points:
//   directory    a new results directory and its lock exist, meta.json does not yet
//   atomic-tmp   a file written atomically (meta.json, a rewritten rows.csv) is complete in its
//                .tmp and not yet renamed
//   compute      before a batch of matrices (sweep) or a network (propagate) is computed
//   row-torn     half of a row's line is written, the rest is not
//   row-written  a row's line is whole (between rows)
//   finish       every row is written; meta.json still says "running" (the final summary)
//   history-insert  half of a run's benchmarks are in the history database's open transaction
//
//   GAPBENCH_TEST_HOLD_AT=<point>:<milliseconds>
//
// makes every arrival at <point> print "gapbench: holding at <point>" on stderr and sleep that
// long, so that a test can make two processes overlap there. The point:
//   history-transaction  a write transaction of the history database is open (BEGIN IMMEDIATE)
#pragma once

namespace gapbench {

// Whether this arrival at `point` is the one GAPBENCH_TEST_PAUSE_AT names (it counts arrivals).
bool test_pause_due(const char* point);

// Prints "gapbench: paused at <point>" on stderr and stops the process (SIGSTOP).
void test_pause(const char* point);

inline void test_pause_point(const char* point) {
  if (test_pause_due(point)) test_pause(point);
}

// Sleeps at `point` as GAPBENCH_TEST_HOLD_AT asks (nothing without the variable).
void test_hold_point(const char* point);

}  // namespace gapbench
