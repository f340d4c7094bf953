// schemaVersion "2": the clean, strict grammar (kit-spec §1.5).
#include <cstdlib>

#include "kitloader/checks.h"
#include "kitloader/decode.h"

namespace kitgate::kit {

namespace {

std::string quote(const std::string& s) { return "\"" + s + "\""; }

bool isNumber(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end && *end == '\0';
}

void decodeResources(DecodeContext& ctx, const YamlNode* n, bool v1, Sandbox* sandbox) {
  if (!n) return;
  Fields f(ctx, *n, v1 ? "Resources" : "ResourcesV2", {"cpu", v1 ? "memoryMB" : "memory", "gpu"});
  if (!f.valid()) return;
  Resources r;
  readString(ctx, f.get("cpu"), &r.cpu);
  readString(ctx, f.get("gpu"), &r.gpu);
  if (!r.cpu.empty()) {
    const YamlNode& c = *f.get("cpu");
    if (c.quoted || !isNumber(r.cpu))
      ctx.error(c, "cannot unmarshal !!str `" + r.cpu + "` into float64");
    else if (std::strtod(r.cpu.c_str(), nullptr) < 0)
      ctx.error(c, "manifest: resources.cpu must be non-negative (got " + r.cpu + ")");
  }
  if (v1) {
    int mb = 0;
    if (readInt(ctx, f.get("memoryMB"), &mb) && f.get("memoryMB")) {
      if (mb < 0)
        ctx.error(*f.get("memoryMB"), "manifest: resources.memoryMB must be non-negative (got " +
                                          std::to_string(mb) + ")");
      r.memory = std::to_string(mb) + "m";
    }
  } else {
    readString(ctx, f.get("memory"), &r.memory);
    if (!r.memory.empty()) {
      if (auto e = sizeError(r.memory))
        ctx.error(*f.get("memory"),
                  "sandbox.resources.memory " + quote(r.memory) + " is not a valid size: " + *e);
    }
  }
  sandbox->resources = std::move(r);
}

}  // namespace

// Shared with the v1 decoder for `sandbox.build`/`resources`.
void decodeSandboxExtras(DecodeContext& ctx, const Fields& s, bool v1, Sandbox* sandbox) {
  decodeBuild(ctx, s.get("build"), sandbox);
  if (sandbox->build) {
    ctx.warn(*s.key("build"),
             "field \"sandbox.build\" is accepted but not yet implemented: Dockerfile builds are "
             "accepted in the "
             "schema but not yet built by the runtime; the image is taken from sandbox.image");
    if (sandbox->image.empty()) {
      ctx.error(*s.key("build"),
                "sandbox.build is accepted in the schema but not yet implemented — specify "
                "sandbox.image");
    }
  }
  decodeResources(ctx, s.get("resources"), v1, sandbox);
}

void decodeV2(DecodeContext& ctx, const YamlNode& root, Kit* kit) {
  Fields top(ctx, root, "specFileV2",
             {"schemaVersion", "kind",        "name",        "version",
              "displayName",   "description", "sourceURL",   "licenses",
              "locked",        "security",    "args",        "extends",
              "mixins",        "requires",    "sandbox",     "agentInstructions",
              "permissions",   "ports",       "credentials", "environment",
              "setup",         "volumes"});
  std::string kind;
  readString(ctx, top.get("kind"), &kind);
  if (kind.empty()) {
    ctx.error(root, "manifest: kind is required");
  } else if (kind == "sandbox") {
    kit->kind = KitKind::kSandbox;
  } else if (kind == "mixin") {
    kit->kind = KitKind::kMixin;
  } else {
    ctx.error(*top.get("kind"),
              "manifest: invalid kind " + quote(kind) + " (must be \"sandbox\" or \"mixin\")");
  }
  decodeHeader(ctx, top, /*v1=*/false, kit);

  if (const YamlNode* sb = top.get("sandbox")) {
    if (kit->kind == KitKind::kMixin) {
      ctx.error(*top.key("sandbox"),
                "'sandbox:' block is only valid for kind \"sandbox\", not \"mixin\"");
    }
    Fields s(ctx, *sb, "sandboxBlockV2", {"image", "build", "entrypoint", "command", "resources"});
    Sandbox sandbox;
    readString(ctx, s.get("image"), &sandbox.image);
    readStringList(ctx, s.get("entrypoint"), &sandbox.entrypoint);
    if (const YamlNode* c = s.get("command"); c && !c->isNull()) {
      Command cmd;
      if (c->isSeq()) {
        readStringList(ctx, c, &cmd.default_args);
        sandbox.command = std::move(cmd);
      } else if (c->isMap()) {
        Fields cf(ctx, *c, "commandV2", {"default", "interactive"});
        readStringList(ctx, cf.get("default"), &cmd.default_args);
        if (const YamlNode* i = cf.get("interactive")) {
          std::vector<std::string> tail;
          readStringList(ctx, i, &tail);
          cmd.interactive = std::move(tail);
        }
        sandbox.command = std::move(cmd);
      } else {
        ctx.error(
            *c,
            "sandbox.command: must be a list (shorthand) or a mapping with default/interactive");
      }
    }
    decodeSandboxExtras(ctx, s, /*v1=*/false, &sandbox);
    if (s.valid()) kit->sandbox = std::move(sandbox);
  }
  if (const YamlNode* ai = top.get("agentInstructions")) {
    Fields f(ctx, *ai, "agentInstructionsV2", {"filename", "content"});
    readString(ctx, f.get("filename"), &kit->agent_instructions.filename);
    readString(ctx, f.get("content"), &kit->agent_instructions.content);
  }
  if (const YamlNode* p = top.get("permissions")) {
    Fields f(ctx, *p, "permissionsV2", {"network"});
    if (const YamlNode* net = f.get("network")) {
      Fields nf(ctx, *net, "networkPermissionsV2", {"allow", "deny"});
      decodePatternList(ctx, nf.get("allow"), "permissions.network.allow", &kit->allow);
      decodePatternList(ctx, nf.get("deny"), "permissions.network.deny", &kit->deny);
    }
  }
  decodePorts(ctx, top.get("ports"), &kit->ports);
  decodeCredentialList(ctx, top.get("credentials"), /*v2=*/true, &kit->credentials);
  if (const YamlNode* env = top.get("environment")) {
    Fields f(ctx, *env, "environmentV2", {"variables"});
    decodeEnvVariables(ctx, f.get("variables"), &kit->environment);
  }
  decodeSetup(ctx, top.get("setup"), "setupV2", "files", &kit->setup);
  decodeVolumeList(ctx, top.get("volumes"), &kit->volumes);

  if (kit->kind == KitKind::kMixin && !kit->extends.empty()) {
    ctx.error(*top.key("extends"),
              "kind \"mixin\" must not set extends (kit-spec v2): mixins are base-agnostic "
              "additions; use a kind "
              "\"sandbox\" kit with extends to derive from a parent agent");
  }
  if (kind == "sandbox" && kit->extends.empty()) {
    if (!top.get("sandbox")) {
      ctx.error(root, "kind \"sandbox\" requires a 'sandbox:' block with at least 'sandbox.image'");
    } else if (kit->sandbox && kit->sandbox->image.empty()) {
      ctx.error(*top.key("sandbox"), "manifest: template is required for kind \"sandbox\"");
    }
  }
}

}  // namespace kitgate::kit
