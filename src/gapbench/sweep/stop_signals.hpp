// SIGINT/SIGTERM handling for long runs (sweeps, propagation sweeps): while a StopSignals lives,
// the signals only raise a flag, which the run checks between units of work so that every
// finished row is kept and the results stay whole. The previous handlers come back after.
#pragma once

namespace gapbench {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // True once SIGINT or SIGTERM arrived.
  bool stopped() const;

 private:
  void (*m_int)(int);
  void (*m_term)(int);
};

}  // namespace gapbench
