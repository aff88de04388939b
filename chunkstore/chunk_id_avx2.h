#pragma once
// The AVX2 build of XXH3-128 (chunk_id_avx2.cc). Only chunk_id.cc calls these, and only after
// checking that the CPU has AVX2. Plain C types: the file that defines them is built with -mavx2
// and must not instantiate anything shared with the rest of the program.
#include <stddef.h>

void SwXxh3Avx2Oneshot(const void* data, size_t len, unsigned char out[16]);
void SwXxh3Avx2Update(void* state, const void* data, size_t len);  // state: an XXH3_state_t*
