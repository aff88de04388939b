// XXH3-128 compiled for AVX2 (this file alone is built with -mavx2; chunk_id.cc calls it only
// when the CPU has AVX2). It includes nothing but xxhash.h, whose functions are all static here,
// so no inline function built for AVX2 can be shared with, and picked by, the rest of the
// program.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "chunkstore/chunk_id_avx2.h"

void SwXxh3Avx2Oneshot(const void* data, size_t len, unsigned char out[16]) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
  for (int i = 0; i < 16; ++i) out[i] = c.digest[i];
}

void SwXxh3Avx2Update(void* state, const void* data, size_t len) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state), data, len);
}
