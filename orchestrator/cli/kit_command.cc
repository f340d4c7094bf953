// `kitgate kit validate | inspect | pack | push | pull | sign | verify | add`.
#include "orchestrator/cli/kit_command.h"

#include <cstdio>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>

#include "kitloader/kit.h"
#include "kitloader/sign/sign.h"
#include "orchestrator/cli/kit_settings.h"
#include "orchestrator/cli/kit_view.h"
#include "orchestrator/cli/run_kits.h"
#include "orchestrator/cli/sandbox_cli.h"
#include "orchestrator/sandbox/kit_add.h"
#include "orchestrator/sandbox/plan.h"
#include "orchestrator/sandbox/route_secrets.h"
#include "orchestrator/state/state.h"

namespace kitgate::cli {

namespace {

constexpr std::string_view kKitUsage =
    "Usage: kitgate kit <validate|inspect|pack|push|pull|sign|verify|add> ...\n\n"
    "Commands:\n"
    "  validate REF [--json] [--kit-arg NAME=VALUE]...   check a kit; prints VALID and its "
    "warnings\n"
    "  inspect REF [--json] [--kit-arg NAME=VALUE]...    show what kitgate will do with a kit\n"
    "  pack DIR [-o OUT.zip]                             write a reproducible ZIP of a kit "
    "directory\n"
    "  push DIR REGISTRY/REPO:TAG                        publish a kit to an OCI registry\n"
    "  pull REF [-o OUT]                                 save a published kit's payload\n"
    "  sign DIR|REF --key KEY.pem                        sign a kit (ECDSA P-256)\n"
    "  verify DIR|REF [--key PUB.pem]                    check a kit's signature\n"
    "  add SANDBOX REF [--kit-arg NAME=VALUE]...         add a mixin to a running sandbox\n\n"
    "REF is a kit directory (./amp/), a .zip made by 'kitgate kit pack',\n"
    "git+https://host/repo.git#ref=REF&dir=DIR, or an OCI reference\n"
    "(registry.example/org/kit:1.0, ...@sha256:HEX; no registry = docker.io).\n\n"
    "Examples:\n"
    "  kitgate kit validate ./configs/kits/amp/\n"
    "  kitgate kit inspect ./amp.zip\n"
    "  kitgate kit pack ./configs/kits/amp -o amp.zip\n";

constexpr std::string_view kValidateUsage =
    "Usage: kitgate kit validate REF [--json] [--kit-arg NAME=VALUE]...\n\n"
    "Loads the kit like 'kitgate run' would and reports every problem at once.\n"
    "Valid: prints 'VALID: REF (directory|zip|git)' and one 'WARN: ...' line per\n"
    "warning on stdout, exit 0. Invalid: every error with its file:line:column on\n"
    "stderr, exit 1.\n\n"
    "Options:\n"
    "  --json                 print {reference, kind, valid, error, errors, warnings}\n"
    "  --kit-arg NAME=VALUE   value for a kit argument (KIT.NAME=VALUE for one kit)\n"
    "  --kit-args-file FILE   NAME=VALUE lines ('#' comments); --kit-arg wins\n\n"
    "Examples:\n"
    "  kitgate kit validate ./configs/kits/amp/\n"
    "  kitgate kit validate ./args-kit --kit-arg token=abc --kit-arg version=1.2\n"
    "  kitgate kit validate 'git+https://github.com/docker/sbx-kits-contrib.git#dir=amp' --json\n";

constexpr std::string_view kInspectUsage =
    "Usage: kitgate kit inspect REF [--json] [--kit-arg NAME=VALUE]...\n"
    "       kitgate kit inspect --kit REF [--kit REF]... [AGENT] [--json]\n\n"
    "Shows the kit as kitgate will apply it: image and entrypoint, allowed and\n"
    "denied hosts, the hosts the proxy TLS-intercepts and the header it writes\n"
    "for each credential, environment, setup steps and files. schemaVersion \"1\"\n"
    "kits are shown normalized to schemaVersion \"2\".\n\n"
    "With --kit (repeatable) the kits are composed as 'kitgate run' composes\n"
    "them: one sandbox kit (or the built-in agent / image named by AGENT) plus\n"
    "mixins in --kit order, extends resolved; the composed kit is shown.\n\n"
    "Options:\n"
    "  --json                 the canonical schemaVersion \"2\" view, warnings and files\n"
    "  --kit-arg NAME=VALUE   value for a kit argument\n"
    "  --kit-args-file FILE   NAME=VALUE lines ('#' comments); --kit-arg wins\n\n"
    "Examples:\n"
    "  kitgate kit inspect ./configs/kits/amp/\n"
    "  kitgate kit inspect ./amp.zip --json\n"
    "  kitgate kit inspect --kit ./amp/ --kit ./glab/\n"
    "  kitgate kit inspect --kit ./vale/ claude\n";

constexpr std::string_view kPackUsage =
    "Usage: kitgate kit pack DIR [-o OUT.zip]\n\n"
    "Validates the kit in DIR and writes spec.yaml + files/home/** +\n"
    "files/workspace/** into a reproducible ZIP (sorted entries, fixed\n"
    "timestamps): packing the same kit twice gives identical bytes. The default\n"
    "output is <name>.zip. 'kit validate', 'kit inspect' and 'run' accept it.\n\n"
    "Examples:\n"
    "  kitgate kit pack ./configs/kits/amp -o amp.zip\n"
    "  kitgate kit pack ./my-kit\n";

constexpr std::string_view kPushUsage =
    "Usage: kitgate kit push DIR REGISTRY/REPO:TAG\n\n"
    "Validates the kit in DIR and pushes it as an OCI artifact: a schemaVersion\n"
    "\"2\" kit as spec.yaml (config blob, verbatim) + a reproducible tar+gzip of\n"
    "files/ (artifactType application/vnd.docker.sandbox.kit.v2); a \"1\" kit as\n"
    "its 'kitgate kit pack' ZIP (one application/vnd.docker.sandbox.kit.v1.content.zip\n"
    "layer). Prints 'Pushed REF@DIGEST'. Credentials: 'kitgate secret set\n"
    "--registry', then Docker's (~/.docker/config.json: auths, credential\n"
    "helpers). HTTPS, except loopback registries and those in the settings'\n"
    "registry.insecure list (or KITGATE_INSECURE_REGISTRIES) when they lack TLS.\n\n"
    "Examples:\n"
    "  kitgate kit push ./configs/kits/amp registry.example.com/kits/amp:1.0\n"
    "  kitgate kit push ./my-kit localhost:5000/my-kit:dev\n";

constexpr std::string_view kPullUsage =
    "Usage: kitgate kit pull REF [-o OUT]\n\n"
    "Downloads a kit pushed to an OCI registry and saves its payload without\n"
    "loading it: the ZIP of a v1 kit (OUT defaults to <repo>.zip) or the\n"
    "tar+gzip files/ layer of a v2 kit (<repo>.tar.gz). The manifest and the\n"
    "layer are verified against their digests (and the reference's digest when\n"
    "it has one).\n\n"
    "Examples:\n"
    "  kitgate kit pull registry.example.com/kits/amp:1.0\n"
    "  kitgate kit pull registry.example.com/kits/amp@sha256:... -o amp.zip\n";

constexpr std::string_view kAddUsage =
    "Usage: kitgate kit add SANDBOX REF [--kit-arg NAME=VALUE]...\n\n"
    "Adds a mixin kit to a running sandbox: its permissions.network.allow rules\n"
    "join the sandbox's policy, its environment.variables are exported for new\n"
    "shells (/etc/sandbox-persistent.sh; the running agent keeps its\n"
    "environment), and its setup.install commands run in the container. A kit\n"
    "that needs anything else (startup, setup.files, files/, deny rules,\n"
    "volumes, ports, credentials) or a sandbox kit is refused: remove the\n"
    "sandbox and run it again with every --kit.\n\n"
    "Examples:\n"
    "  kitgate kit add claude-proj ./vale/\n"
    "  kitgate kit add amp-dev ./packages-through-sfw/\n";

constexpr std::string_view kSignUsage =
    "Usage: kitgate kit sign DIR|REF --key KEY.pem\n\n"
    "Signs a kit with an ECDSA P-256 private key (unencrypted PEM that neither\n"
    "group nor others may read). What is signed is the kit content digest\n"
    "(spec.yaml and files/, not the image), the same for a directory, its ZIP\n"
    "and its pushed artifact. A directory gets kit.sig.bundle next to spec.yaml\n"
    "(commit it with a git kit; 'kit push' attaches it); a pushed kit (REF)\n"
    "gets the bundle as an OCI referrer of its manifest. Keyless (Sigstore\n"
    "Fulcio/Rekor) signing needs the internet and is not offered.\n\n"
    "Examples:\n"
    "  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out kit.key\n"
    "  chmod 600 kit.key\n"
    "  kitgate kit sign ./my-kit --key kit.key\n"
    "  kitgate kit sign registry.example.com/kits/my-kit:1.0 --key kit.key\n";

constexpr std::string_view kVerifyUsage =
    "Usage: kitgate kit verify DIR|REF [--key PUB.pem]\n\n"
    "Checks a kit's signature: the kit must be unchanged since it was signed and\n"
    "signed by PUB.pem (public key, or the private key's public half) or, without\n"
    "--key, by a signer in kit.trustedSigners (fingerprints sha256:<hex>, settings\n"
    "file or DOCKER_SANDBOXES_KIT_TRUSTED_SIGNERS). Prints 'Verified: REF signed by\n"
    "FINGERPRINT', exit 0; otherwise the reason, exit 1. Directories, git\n"
    "references (the committed kit.sig.bundle) and OCI references; a ZIP cannot\n"
    "carry a signature.\n\n"
    "Examples:\n"
    "  kitgate kit verify ./my-kit --key kit.pub\n"
    "  kitgate kit verify registry.example.com/kits/my-kit:1.0\n";

struct Parsed {
  std::vector<kit::KitArgValue> file_args;  // from --kit-args-file, before --kit-arg
  std::vector<std::string> kits;            // inspect --kit REF... (composed)
  std::string sandbox;                      // add SANDBOX REF
  std::string ref;
  std::string shown;  // ref without user:password@, for output
  bool json = false;
  bool help = false;
  std::string output;
  std::string key;  // sign / verify --key
  kit::LoadOptions options;
  SignatureSettings signatures;
  std::string error;
};

// `name=value` lines; blank lines and `#` comments ignored.
bool readKitArgsFile(const std::string& path, std::vector<kit::KitArgValue>* out,
                     std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read --kit-args-file " + path;
    return false;
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    auto arg = kit::parseKitArg(std::string_view(line).substr(start));
    if (!arg) {
      *error = path + ":" + std::to_string(number) + ": expected NAME=VALUE";
      return false;
    }
    out->push_back(*arg);
  }
  return true;
}

Parsed parse(const Args& args, bool allow_output, bool allow_kits, bool want_sandbox,
             bool allow_key) {
  Parsed p;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag) -> std::optional<std::string> {
      if (a.size() > flag.size() && a.compare(0, flag.size() + 1, flag + "=") == 0)
        return a.substr(flag.size() + 1);
      if (a == flag && i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (isHelpFlag(a)) {
      p.help = true;
    } else if (a == "--json") {
      p.json = true;
    } else if (a == "--kit-arg" || a.rfind("--kit-arg=", 0) == 0) {
      auto v = value("--kit-arg");
      auto parsed = v ? kit::parseKitArg(*v) : std::nullopt;
      if (!parsed) {
        p.error = "--kit-arg needs NAME=VALUE";
        return p;
      }
      p.options.args.push_back(*parsed);
    } else if (a == "--kit-args-file" || a.rfind("--kit-args-file=", 0) == 0) {
      auto v = value("--kit-args-file");
      if (!v || !readKitArgsFile(*v, &p.file_args, &p.error)) {
        if (p.error.empty()) p.error = "--kit-args-file needs a file name";
        return p;
      }
    } else if (allow_output && (a == "-o" || a == "--output" || a.rfind("--output=", 0) == 0)) {
      auto v = a == "-o"
                   ? (i + 1 < args.size() ? std::optional<std::string>(args[++i]) : std::nullopt)
                   : value("--output");
      if (!v) {
        p.error = a + " needs a file name";
        return p;
      }
      p.output = *v;
    } else if (allow_kits && (a == "--kit" || a.rfind("--kit=", 0) == 0)) {
      auto v = value("--kit");
      if (!v) {
        p.error = "--kit needs a kit reference";
        return p;
      }
      p.kits.push_back(*v);
    } else if (allow_key && (a == "--key" || a.rfind("--key=", 0) == 0)) {
      auto v = value("--key");
      if (!v) {
        p.error = "--key needs a PEM key file";
        return p;
      }
      p.key = *v;
    } else if (a == "--cache-dir" || a.rfind("--cache-dir=", 0) == 0) {
      auto v = value("--cache-dir");
      if (!v) {
        p.error = "--cache-dir needs a directory";
        return p;
      }
      p.options.cache_dir = *v;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      p.error = "unknown option " + a;
      return p;
    } else if (want_sandbox && p.sandbox.empty()) {
      p.sandbox = a;
    } else if (p.ref.empty()) {
      p.ref = a;
    } else {
      p.error = "unexpected argument " + a;
      return p;
    }
  }
  if (std::string e = applyKitSettings(&p.options, &p.signatures); !e.empty()) {
    p.error = e;
    return p;
  }
  p.shown = kit::redactReference(p.ref);
  // Files first (later files override earlier ones), then --kit-arg.
  p.options.args.insert(p.options.args.begin(), p.file_args.begin(), p.file_args.end());
  return p;
}

void printErrors(const kit::LoadResult& r, std::string_view ref, Io& io) {
  for (const auto& d : r.diagnostics) {
    bool in_spec = d.file == r.spec_file;
    io.err << kit::renderDiagnostic(d, in_spec ? std::string_view(r.spec_text) : std::string_view(),
                                    io.err_color);
  }
  size_t errors = r.errors().size();
  size_t warnings = r.diagnostics.size() - errors;
  io.err << "INVALID: " << ref << " (" << errors << (errors == 1 ? " error" : " errors");
  if (warnings > 0) io.err << ", " << warnings << (warnings == 1 ? " warning" : " warnings");
  io.err << ")\n";
}

int usageError(Io& io, std::string_view usage, const std::string& message) {
  io.err << "kitgate kit: " << message << "\n\n" << usage;
  return kExitUsage;
}

// Parses a subcommand's arguments; answers --help and usage errors itself
// (returns the exit code in `exit_code`, nullopt parse result then).
std::optional<Parsed> parseOrExit(const Args& args, bool allow_output, std::string_view usage,
                                  std::string_view what, Io& io, int* exit_code,
                                  bool allow_kits = false, bool want_sandbox = false,
                                  bool allow_key = false) {
  Parsed p = parse(args, allow_output, allow_kits, want_sandbox, allow_key);
  if (p.help) {
    io.out << usage;
    *exit_code = kExitOk;
    return std::nullopt;
  }
  if (p.error.empty() && p.ref.empty() && p.kits.empty())
    p.error = std::string(what) + " needs a kit reference";
  if (!p.error.empty()) {
    *exit_code = usageError(io, usage, p.error);
    return std::nullopt;
  }
  return p;
}

int validate(const Args& args, Io& io) {
  int rc = kExitOk;
  auto parsed = parseOrExit(args, false, kValidateUsage, "validate", io, &rc);
  if (!parsed) return rc;
  Parsed& p = *parsed;
  // validate checks the kit being written: a missing signature is a warning.
  p.options.signature_severity = kit::Severity::kWarning;
  if (kit::isOciReference(p.ref)) {
    // As sbx: validate is for kits being written; a published kit is inspected.
    io.err << "kitgate kit validate: OCI references are not supported for validation; use a "
              "local directory or ZIP file (or a git+https:// reference), or 'kitgate kit "
              "inspect "
           << p.shown << "'\n";
    return kExitFailed;
  }
  kit::LoadResult r = kit::load(p.ref, p.options);
  if (p.json) {
    io.out << verdictToJson(r, p.shown);
    return r.ok() ? kExitOk : kExitFailed;
  }
  if (!r.ok()) {
    printErrors(r, p.shown, io);
    return kExitFailed;
  }
  const char* green = io.out_color ? "\033[1;32m" : "";
  const char* yellow = io.out_color ? "\033[1;33m" : "";
  const char* reset = io.out_color ? "\033[0m" : "";
  io.out << green << "VALID:" << reset << " " << p.shown << " (" << kit::refKindName(r.ref_kind)
         << ")\n";
  for (const auto& w : r.warningMessages())
    io.out << yellow << "WARN:" << reset << " " << w << "\n";
  return kExitOk;
}

// Which stored secret each credential route of `kit` will use (the same
// chain `run` names; global scope, as no sandbox exists yet). Never a value.
void printRouteSecrets(const kit::Kit& kit, Io& io) {
  const auto routes = sandbox::planRoutes(kit);
  auto notes = sandbox::routeSecretNotes(state::defaultPaths(), "", routes);
  if (notes.isOk() && notes->empty()) return;
  const char* b = io.out_color ? "\033[1m" : "";
  const char* r = io.out_color ? "\033[0m" : "";
  io.out << b << "Secrets the routes will use (global; a sandbox's own secrets win at run):" << r
         << "\n";
  if (!notes.isOk()) {
    io.out << "  (cannot tell: " << notes.status().message() << ")\n";
    return;
  }
  for (const sandbox::RouteSecretNote& n : *notes) io.out << "  " << n.text() << "\n";
}

// `kit inspect --kit A --kit B [AGENT]`: the composed result, as `run` would use it.
int inspectComposed(const Parsed& p, Io& io) {
  int rc = kExitFailed;
  auto kits = loadRunKits(p.kits, p.ref, p.options, io, !p.json, &rc);
  if (!kits) return rc;
  kit::LoadResult composed;
  composed.kit = kits->composition.kit;
  composed.spec_schema = "2";
  if (p.json) {
    io.out << kitToJson(composed, kits->kit_ref);
    return kExitOk;
  }
  const kit::Composition& c = kits->composition;
  io.out << "Composed: " << c.base;
  for (const std::string& e : c.extends_chain) io.out << " extends " << e;
  for (const std::string& m : c.mixins) io.out << " + " << m;
  io.out << "\n";
  for (const kit::MixinContext& m : c.mixin_contexts) {
    io.out << "Agent context of mixin " << m.kit << ": kits-agent-context/" << m.kit << ".md\n";
  }
  io.out << "\n" << kitToText(composed, kits->kit_ref, io.out_color);
  printRouteSecrets(composed.kit, io);
  return kExitOk;
}

int inspect(const Args& args, Io& io) {
  int rc = kExitOk;
  auto parsed = parseOrExit(args, false, kInspectUsage, "inspect", io, &rc, true);
  if (!parsed) return rc;
  Parsed& p = *parsed;
  // inspect creates nothing; it is how a kit is examined before it is
  // trusted, so an unsigned or untrusted kit is shown with a warning.
  p.options.signature_severity = kit::Severity::kWarning;
  if (!p.kits.empty()) return inspectComposed(p, io);
  kit::LoadResult r = kit::load(p.ref, p.options);
  if (!r.ok()) {
    if (p.json) {
      io.out << verdictToJson(r, p.shown);
    } else {
      printErrors(r, p.shown, io);
    }
    return kExitFailed;
  }
  io.out << (p.json ? kitToJson(r, p.shown) : kitToText(r, p.shown, io.out_color));
  if (!p.json) printRouteSecrets(r.kit, io);
  return kExitOk;
}

int pack(const Args& args, Io& io) {
  int rc = kExitOk;
  auto parsed = parseOrExit(args, true, kPackUsage, "pack", io, &rc);
  if (!parsed) return rc;
  Parsed& p = *parsed;
  p.options.check_signature = nullptr;  // packaging installs nothing
  std::string out = p.output;
  if (out.empty()) {
    kit::LoadResult probe = kit::load(p.ref, p.options);
    if (!probe.ok()) {
      printErrors(probe, p.shown, io);
      return kExitFailed;
    }
    out = probe.kit.name + ".zip";
  }
  std::string write_error;
  kit::LoadResult r = kit::pack(p.ref, out, p.options, &write_error);
  if (!r.ok()) {
    printErrors(r, p.shown, io);
    return kExitFailed;
  }
  if (!write_error.empty()) {
    io.err << "kitgate kit pack: " << write_error << "\n";
    return kExitFailed;
  }
  io.out << "PACKED: " << out << " (" << r.kit.files.size() + 1 << " entries)\n";
  for (const auto& w : r.warningMessages()) io.out << "WARN: " << w << "\n";
  return kExitOk;
}

int push(const Args& args, Io& io) {
  int rc = kExitOk;
  auto parsed = parseOrExit(args, false, kPushUsage, "push", io, &rc, false, true);
  if (!parsed) return rc;
  Parsed& p = *parsed;
  p.options.check_signature = nullptr;  // publishing installs nothing
  if (p.ref.empty()) return usageError(io, kPushUsage, "push needs DIR and REGISTRY/REPO:TAG");
  kit::PushResult r = kit::push(p.sandbox, p.ref, p.options);
  if (!r.load.ok()) {
    printErrors(r.load, p.sandbox, io);
    return kExitFailed;
  }
  if (!r.error.empty()) {
    io.err << "kitgate kit push: " << r.error << "\n";
    return kExitFailed;
  }
  for (const auto& w : r.load.warningMessages()) io.out << "WARN: " << w << "\n";
  io.out << "Pushed " << r.reference << "@" << r.manifest_digest << " (kit " << r.load.kit.name
         << ", " << r.format << ")\n";
  // A signed directory's kit.sig.bundle travels with it as a referrer (the
  // content digest, and so the signature, is the same for both).
  kit::KitContent local;
  std::string error;
  if (!kit::readKitContent(p.sandbox, p.options, &local, &error) || !local.bundle) return kExitOk;
  std::string where;
  if (!sign::attachBundle(r.reference + "@" + r.manifest_digest, *local.bundle, p.options, &where,
                          &error)) {
    io.err << "WARN: " << kit::kSignatureBundleName << " was not attached: " << error << "\n";
    return kExitOk;
  }
  io.out << "Attached its signature (" << kit::kSignatureBundleName << ") as " << where << "\n";
  return kExitOk;
}

int pull(const Args& args, Io& io) {
  int rc = kExitOk;
  auto parsed = parseOrExit(args, true, kPullUsage, "pull", io, &rc);
  if (!parsed) return rc;
  Parsed& p = *parsed;
  p.options.check_signature = nullptr;  // packaging installs nothing
  if (!kit::isOciReference(p.ref)) {
    return usageError(io, kPullUsage,
                      "kit pull takes an OCI reference (REGISTRY/REPO:TAG or ...@sha256:HEX)");
  }
  kit::PullResult r = kit::pull(p.ref, p.options);
  if (!r.error.empty()) {
    io.err << "kitgate kit pull: " << r.error << "\n";
    return kExitFailed;
  }
  std::string out = p.output.empty() ? r.repository + r.extension : p.output;
  std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(r.payload.data(), static_cast<std::streamsize>(r.payload.size()));
    if (!f) {
      std::remove(tmp.c_str());
      io.err << "kitgate kit pull: cannot write " << tmp << "\n";
      return kExitFailed;
    }
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0) {
    std::remove(tmp.c_str());
    io.err << "kitgate kit pull: cannot write " << out << "\n";
    return kExitFailed;
  }
  io.out << "Pulled " << p.ref << "@" << r.manifest_digest << " (" << r.format << ") to " << out
         << " (" << r.payload.size() << " bytes)\n";
  return kExitOk;
}

int signCommand(const Args& args, Io& io) {
  int rc = kExitOk;
  auto parsed = parseOrExit(args, false, kSignUsage, "sign", io, &rc, false, false, true);
  if (!parsed) return rc;
  const Parsed& p = *parsed;
  if (p.key.empty()) return usageError(io, kSignUsage, "sign needs --key KEY.pem");
  sign::Signed signed_kit;
  std::string error;
  if (!sign::signKit(p.ref, p.key, p.options, &signed_kit, &error)) {
    io.err << "kitgate kit sign: " << error << "\n";
    return kExitFailed;
  }
  io.out << "Signed " << p.shown << " (content " << signed_kit.content_digest << ") with key "
         << signed_kit.signer << "\nSignature: " << signed_kit.where << "\n";
  return kExitOk;
}

int verifyCommand(const Args& args, Io& io) {
  int rc = kExitOk;
  auto parsed = parseOrExit(args, false, kVerifyUsage, "verify", io, &rc, false, false, true);
  if (!parsed) return rc;
  const Parsed& p = *parsed;
  std::vector<std::string> trusted = p.signatures.trusted;
  std::string error;
  if (!p.key.empty()) {
    std::string fingerprint;
    if (!sign::keyFingerprint(p.key, &fingerprint, &error)) {
      io.err << "kitgate kit verify: " << error << "\n";
      return kExitFailed;
    }
    trusted = {fingerprint};
  }
  kit::KitContent content;
  if (!kit::readKitContent(p.ref, p.options, &content, &error)) {
    io.err << "kitgate kit verify: " << error << "\n";
    return kExitFailed;
  }
  sign::Verified verified;
  if (std::string problem = sign::verifyContent(content, trusted, p.options, &verified);
      !problem.empty()) {
    io.err << "kitgate kit verify: " << problem << "\n";
    if (p.key.empty() && trusted.empty())
      io.err << "hint: pass --key PUB.pem, or list trusted fingerprints in kit.trustedSigners\n";
    return kExitFailed;
  }
  io.out << "Verified: " << p.shown << " signed by " << verified.signer << " (content "
         << verified.content_digest << ")\n";
  return kExitOk;
}

int add(const Args& args, Io& io) {
  int rc = kExitOk;
  auto parsed = parseOrExit(args, false, kAddUsage, "add", io, &rc, false, true);
  if (!parsed) return rc;
  const Parsed& p = *parsed;
  kit::LoadResult r = kit::load(p.ref, p.options);
  if (!r.ok()) {
    printErrors(r, p.shown, io);
    return kExitFailed;
  }
  if (std::vector<std::string> problems = kit::runtimeProblems(r.kit); !problems.empty()) {
    for (const std::string& problem : problems) io.err << "kitgate kit add: " << problem << "\n";
    return kExitFailed;
  }
  auto ctx = openSandboxContext();
  if (!ctx.isOk()) {
    io.err << "kitgate kit add: " << ctx.status().message() << "\n";
    return kExitFailed;
  }
  sandbox::CreateFailure failure;
  auto added = sandbox::addKitToSandbox(*ctx->docker, *ctx->proxy, ctx->paths,
                                        {p.sandbox, r.kit, p.shown}, progressFor(io), &failure);
  if (!added.isOk()) {
    if (!failure.output.empty())
      io.err << "--- last output of the failed step ---\n" << failure.output << "\n";
    io.err << "kitgate kit add: " << added.status().message() << "\n";
    return failure.exit_code != 0 ? failure.exit_code : kExitFailed;
  }
  io.out << "Added kit " << r.kit.name << " to " << p.sandbox << ": " << added->added_allow.size()
         << " allow rule(s), " << added->exported.size() << " variable(s), " << added->installs
         << " install command(s).\n";
  return kExitOk;
}

}  // namespace

int runKitCommand(const Args& args, Io& io) {
  if (args.empty()) {
    io.err << kKitUsage;
    return kExitUsage;
  }
  const std::string& sub = args[0];
  Args rest(args.begin() + 1, args.end());
  if (isHelpFlag(sub)) {
    io.out << kKitUsage;
    return kExitOk;
  }
  if (sub == "validate") return validate(rest, io);
  if (sub == "inspect") return inspect(rest, io);
  if (sub == "pack") return pack(rest, io);
  if (sub == "push") return push(rest, io);
  if (sub == "pull") return pull(rest, io);
  if (sub == "sign") return signCommand(rest, io);
  if (sub == "verify") return verifyCommand(rest, io);
  if (sub == "add") return add(rest, io);
  return usageError(io, kKitUsage, "unknown kit command '" + sub + "'");
}

}  // namespace kitgate::cli
