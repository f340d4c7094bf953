// Standard base64 (RFC 4648 §4, '+' '/', '=' padding) for HTTP Basic
// credentials. Pure functions, any thread.
//
// base64Decode is strict: only the standard alphabet, padding only at the
// end and only as much as the length needs (unpadded input is accepted, as
// some clients omit it), and no bits set in the unused tail of the last
// character — so decode(encode(x)) == x and every accepted text has exactly
// one decoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kitgate {

std::string base64Encode(std::string_view bytes);
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace kitgate
