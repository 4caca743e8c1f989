// Canaries of the sanitized build (the asan preset): each mode commits one deliberate error that
// AddressSanitizer, UndefinedBehaviorSanitizer or LeakSanitizer must report, so a green sanitized
// suite means "checked and clean", not "the sanitizers never ran". expect_sanitizer.cmake runs a
// mode and passes only on the sanitizers' exit code (86, from ASAN_OPTIONS/UBSAN_OPTIONS in the
// preset) and their report.
#include <cstdio>
#include <cstring>
#include <limits>

namespace {

// Volatile: the compiler can neither see the index is out of range nor fold the arithmetic away.
volatile int g_index = 8;
volatile int g_large = std::numeric_limits<int>::max();
int* volatile g_lost = nullptr;

int heap_overflow() {
  char* block = new char[8];
  block[g_index] = 1;  // one past the end
  const int seen = block[0];
  delete[] block;
  return seen;
}

int signed_overflow() {
  // Stored, not compared: `large + 1 > 0` may be folded to `large >= 0`, with no addition left
  // to check.
  volatile int sum = g_large + 1;  // INT_MAX + 1
  return sum == 0 ? 1 : 0;
}

int leak() {
  g_lost = new int[64];
  g_lost[0] = 1;
  g_lost = nullptr;  // the only pointer to the block, dropped
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (std::strcmp(mode, "heap-overflow") == 0) return heap_overflow();
  if (std::strcmp(mode, "signed-overflow") == 0) return signed_overflow();
  if (std::strcmp(mode, "leak") == 0) return leak();
  std::fprintf(stderr, "usage: sanitizer_canary heap-overflow|signed-overflow|leak\n");
  return 2;
}
