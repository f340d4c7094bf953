// JSON string escaping (RFC 8259 §7), for the policy log's lines and for the
// JSON-escaped form of a secret the response scrub looks for. Pure; any
// thread.
#pragma once

#include <string>
#include <string_view>

namespace kitgate {

// Appends `s` JSON-escaped, without the quotes: '"' and '\\' escaped, the
// short forms \b \f \n \r \t, other control characters and DEL as \u00xx;
// '/' as "\/" only when `escape_slash` (some encoders do, most do not).
// Bytes >= 0x80 are copied as they are (UTF-8 passes through).
void appendJsonEscaped(std::string& out, std::string_view s, bool escape_slash = false);

}  // namespace kitgate
