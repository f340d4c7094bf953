// Views of a loaded kit for the CLI: the canonical v2 JSON (`--json`), the
// human `kit inspect` text, and the `kit validate` JSON verdict.
// Pure functions, any thread.
#pragma once

#include <string>
#include <string_view>

#include "kitloader/kit.h"

namespace kitgate::cli {

// `kit inspect --json`: canonical schemaVersion "2" view + warnings + files.
std::string kitToJson(const kit::LoadResult& result, std::string_view ref);
// `kit inspect`: what kitgate will do with this kit, for a person.
std::string kitToText(const kit::LoadResult& result, std::string_view ref, bool color);
// `kit validate --json`: {reference, kind, valid, error, errors, warnings}.
std::string verdictToJson(const kit::LoadResult& result, std::string_view ref);
// How the proxy writes a credential: `Authorization: Bearer <secret>`.
std::string describeInject(const kit::Inject& inject);

}  // namespace kitgate::cli
