// SHA-256 (FIPS 180-4) for OCI content digests. Written here so the kit
// loader needs no crypto library (the proxy links BoringSSL, the
// orchestrator OpenSSL; this code links into both worlds).
#pragma once

#include <string>
#include <string_view>

namespace kitgate::oci {

// "sha256:<64 lowercase hex>" of `data`.
std::string sha256Digest(std::string_view data);

}  // namespace kitgate::oci
