// Kit arguments (schemaVersion "2" `args:`): declaration checks, value
// resolution from --kit-arg, and `${{ kit.args.NAME }}` substitution in
// spec.yaml scalars and files/ text (internal). Single-threaded per load.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kitloader/decode_util.h"
#include "kitloader/kit.h"
#include "kitloader/yaml_tree.h"

namespace kitgate::kit {

// Reads and checks the `args:` block (names in sorted order).
void decodeArgDecls(DecodeContext& ctx, const YamlNode* args, std::map<std::string, ArgSpec>* out);

// Values for every declared arg: supplied (scoped `kit.name=` wins over
// unscoped), else the default. Reports missing required, undeclared and
// invalid values. `at` is where to point errors that have no better place.
std::map<std::string, std::string> resolveArgValues(DecodeContext& ctx, const YamlNode& at,
                                                    const std::string& kit_name,
                                                    const std::map<std::string, ArgSpec>& decls,
                                                    const std::vector<KitArgValue>& supplied);

struct SubstitutionProblem {
  size_t offset = 0;
  std::string message;
};

// Replaces `${{ kit.args.NAME }}` (and the `$${{` escape) in `text`.
// `where` names the file in messages ("spec.yaml", "files/home/x").
std::string substituteArgs(std::string_view text, const std::map<std::string, std::string>& values,
                           std::string_view where, std::vector<SubstitutionProblem>* problems);

// Substitutes in every scalar of the tree except the root `args:` block;
// a reference inside a mapping key is an error.
void substituteTree(DecodeContext& ctx, YamlNode* root,
                    const std::map<std::string, std::string>& values);

bool containsArgReference(std::string_view text);

}  // namespace kitgate::kit
