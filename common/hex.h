// common/hex.h: lower-case hex encoding and decoding. Thread-safe, allocation only for results.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sw {

std::string HexEncode(const uint8_t* data, size_t len);
// Decodes exactly 2*len hex characters (either case) into out[0..len). False on bad input.
bool HexDecode(std::string_view hex, uint8_t* out, size_t len);

}  // namespace sw
