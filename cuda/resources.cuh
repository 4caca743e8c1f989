// Move-only owners of CUDA resources (STYLE.md 4): device and pinned host memory, streams and
// events, released in their destructors. No implicit copies: a copy to or from the host is a named
// call.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "cuda_check.cuh"

namespace gapbench::cuda {

// `count` elements of T in device memory.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) : m_count(count) {
    if (count > 0) GAPBENCH_CUDA_CHECK(cudaMalloc(&m_data, count * sizeof(T)));
  }
  ~DeviceBuffer() {
    if (m_data) GAPBENCH_CUDA_CHECK_NOEXCEPT(cudaFree(m_data));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : m_data(std::exchange(o.m_data, nullptr)), m_count(std::exchange(o.m_count, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(m_data, o.m_data);
    std::swap(m_count, o.m_count);
    return *this;
  }

  T* data() const { return m_data; }
  std::size_t size() const { return m_count; }
  std::size_t bytes() const { return m_count * sizeof(T); }

 private:
  T* m_data = nullptr;
  std::size_t m_count = 0;
};

// `count` elements of T in page-locked host memory (asynchronous copies to and from the device).
template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t count) : m_count(count) {
    if (count > 0) GAPBENCH_CUDA_CHECK(cudaMallocHost(&m_data, count * sizeof(T)));
  }
  ~PinnedBuffer() {
    if (m_data) GAPBENCH_CUDA_CHECK_NOEXCEPT(cudaFreeHost(m_data));
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  PinnedBuffer(PinnedBuffer&& o) noexcept
      : m_data(std::exchange(o.m_data, nullptr)), m_count(std::exchange(o.m_count, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(m_data, o.m_data);
    std::swap(m_count, o.m_count);
    return *this;
  }

  T* data() const { return m_data; }
  std::size_t size() const { return m_count; }

 private:
  T* m_data = nullptr;
  std::size_t m_count = 0;
};

// A non-blocking stream (never the default stream).
class Stream {
 public:
  Stream() { GAPBENCH_CUDA_CHECK(cudaStreamCreateWithFlags(&m_stream, cudaStreamNonBlocking)); }
  ~Stream() {
    if (m_stream) GAPBENCH_CUDA_CHECK_NOEXCEPT(cudaStreamDestroy(m_stream));
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Stream(Stream&& o) noexcept : m_stream(std::exchange(o.m_stream, nullptr)) {}
  Stream& operator=(Stream&& o) noexcept {
    std::swap(m_stream, o.m_stream);
    return *this;
  }
  cudaStream_t get() const { return m_stream; }
  void synchronize() const { GAPBENCH_CUDA_CHECK(cudaStreamSynchronize(m_stream)); }

 private:
  cudaStream_t m_stream = nullptr;
};

// An event for timing.
class Event {
 public:
  Event() { GAPBENCH_CUDA_CHECK(cudaEventCreate(&m_event)); }
  ~Event() {
    if (m_event) GAPBENCH_CUDA_CHECK_NOEXCEPT(cudaEventDestroy(m_event));
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  Event(Event&& o) noexcept : m_event(std::exchange(o.m_event, nullptr)) {}
  Event& operator=(Event&& o) noexcept {
    std::swap(m_event, o.m_event);
    return *this;
  }
  void record(const Stream& s) { record(s.get()); }
  void record(cudaStream_t s) { GAPBENCH_CUDA_CHECK(cudaEventRecord(m_event, s)); }
  // Waits until the work recorded before this event has run (at once if never recorded).
  void synchronize() const { GAPBENCH_CUDA_CHECK(cudaEventSynchronize(m_event)); }
  // Milliseconds from `start` to this event; waits for this event.
  float elapsed_ms_since(const Event& start) const {
    GAPBENCH_CUDA_CHECK(cudaEventSynchronize(m_event));
    float ms = 0;
    GAPBENCH_CUDA_CHECK(cudaEventElapsedTime(&ms, start.m_event, m_event));
    return ms;
  }

 private:
  cudaEvent_t m_event = nullptr;
};

// `count` elements at device address `data`, copied to the host in order on `stream`, which is
// then synchronised: the named copy back.
template <typename T>
std::vector<T> to_host(const T* data, std::int64_t count, cudaStream_t stream) {
  std::vector<T> host(static_cast<std::size_t>(count));
  if (count > 0) {
    GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(host.data(), data, host.size() * sizeof(T),
                                        cudaMemcpyDeviceToHost, stream));
  }
  GAPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host;
}

}  // namespace gapbench::cuda
