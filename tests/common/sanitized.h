// Whether the test binary runs under a sanitizer (GCC's macros, clang's __has_feature).
// Their shadow memory is resident and reserved beside the program's own, so checks of
// resident or address-space sizes measure something else under them.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define QLINEAR_TEST_THREAD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define QLINEAR_TEST_THREAD_SANITIZED 1
#endif
#endif

#if defined(QLINEAR_TEST_THREAD_SANITIZED) || defined(__SANITIZE_ADDRESS__)
#define QLINEAR_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QLINEAR_TEST_SANITIZED 1
#endif
#endif

namespace qlinear::testing {

#ifdef QLINEAR_TEST_THREAD_SANITIZED
inline constexpr bool kThreadSanitized = true;
#else
inline constexpr bool kThreadSanitized = false;
#endif

#ifdef QLINEAR_TEST_SANITIZED
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace qlinear::testing
