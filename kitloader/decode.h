// Grammar decoders (internal): YamlNode tree -> canonical Kit.
//
// decodeSpec() forks on schemaVersion like the reference loader: "2" is the
// strict v2 grammar, anything else goes through the v1 decoder + normalizer
// (which then rejects unsupported versions). The blocks shared by both
// grammars live in decode_blocks.cc. Single-threaded per load.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kitloader/decode_util.h"
#include "kitloader/kit.h"
#include "kitloader/yaml_tree.h"

namespace kitgate::kit {

void decodeSpec(DecodeContext& ctx, const YamlNode& root, Kit* kit);

// ---- grammar-specific top levels
void decodeV1(DecodeContext& ctx, const YamlNode& root, Kit* kit);
void decodeV2(DecodeContext& ctx, const YamlNode& root, Kit* kit);

// ---- shared blocks (decode_blocks.cc)
void decodeHeader(DecodeContext& ctx, const Fields& top, bool v1, Kit* kit);
void decodePatternList(DecodeContext& ctx, const YamlNode* n, std::string_view label,
                       std::vector<std::string>* out);
// Warns (never errors: sbx does not check rule syntax) about a pattern
// kitgate's policy engine refuses, and about a middle `*` label.
// `intercepted`: an inject domain / serviceDomains key (names the CA suffix).
void checkPatternAt(DecodeContext& ctx, const YamlNode& item, const std::string& label,
                    const std::string& pattern, bool intercepted);
void decodeBuild(DecodeContext& ctx, const YamlNode* n, Sandbox* sandbox);
// sandbox.build (+ warning) and sandbox.resources (v1: memoryMB).
void decodeSandboxExtras(DecodeContext& ctx, const Fields& s, bool v1, Sandbox* sandbox);
void decodePorts(DecodeContext& ctx, const YamlNode* n, std::vector<Port>* out);
void decodeCredentialList(DecodeContext& ctx, const YamlNode* n, bool v2,
                          std::vector<Credential>* out);
void decodeOAuthBody(DecodeContext& ctx, const Fields& f, const std::string& prefix, OAuth* out);
void decodeSetup(DecodeContext& ctx, const YamlNode* n, std::string_view go_type,
                 std::string_view files_key, Setup* out);
void decodeVolumeList(DecodeContext& ctx, const YamlNode* n, std::vector<Volume>* out);
void decodeEnvVariables(DecodeContext& ctx, const YamlNode* n,
                        std::map<std::string, std::string>* out);
void decodeRequires(DecodeContext& ctx, const YamlNode* n, Kit* kit);
// Checks that need the whole kit: kind rules, inject coverage, env collisions.
void finishChecks(DecodeContext& ctx, const YamlNode& root, bool v1, Kit* kit);

}  // namespace kitgate::kit
