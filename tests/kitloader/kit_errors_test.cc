// Invalid kits: each case asserts the exact message and line:column of the
// first error, like a compiler test suite; plus "every problem at once", the
// rendered caret, and the valid-with-warning cases (what kitgate knows
// beyond sbx).
#include <gtest/gtest.h>

#include "kitloader/kit.h"

namespace kitgate::kit {
namespace {

struct ErrorCase {
  const char* name;
  const char* yaml;
  int line;
  int column;
  const char* message;
};

// A minimal valid v2 sandbox, to which cases append.
#define V2 "schemaVersion: \"2\"\nkind: sandbox\nname: t\nsandbox:\n  image: img\n"
#define V2MIX "schemaVersion: \"2\"\nkind: mixin\nname: t\n"
#define V1 "schemaVersion: \"1\"\nkind: agent\nname: t\nagent:\n  image: img\n"
#define INJECT(domain, rest) \
  V2 "credentials:\n  - service: s\n    apiKey:\n      inject:\n        - domain: " domain "\n" rest

const ErrorCase kCases[] = {
    {"UnknownTopLevelFieldV2", V2 "caps:\n  network: {}\n", 6, 1,
     "field caps not found in type spec.specFileV2"},
    {"UnknownFieldInSandbox", V2 "  persistence: persistent\n", 6, 3,
     "field persistence not found in type spec.sandboxBlockV2"},
    {"UnknownFieldV1Top", V1 "permissions: {}\n", 6, 1,
     "field permissions not found in type spec.SpecFile"},
    {"UnknownFieldV1Agent", V1 "  memoryMB: 3\n", 6, 3,
     "field memoryMB not found in type spec.agentBlock"},
    {"UnknownFieldInInstall", V2 "setup:\n  install:\n    - command: x\n      shell: bash\n", 9, 7,
     "field shell not found in type spec.InstallCommand"},
    {"UnknownFieldInInject",
     V2 "credentials:\n  - service: s\n    apiKey:\n      inject:\n        - domain: a.com\n       "
        "   heder: X\n",
     11, 11, "field heder not found in type spec.InjectRule"},
    {"DuplicateKey", V2 "name: u\n", 6, 1, "mapping key \"name\" already defined at line 3"},
    {"SchemaVersionMissing", "kind: sandbox\nname: t\n", 1, 1,
     "manifest: schemaVersion is required"},
    {"SchemaVersion3", "schemaVersion: \"3\"\nkind: workload\n", 1, 16,
     "manifest: unsupported schemaVersion \"3\" (supported: [1 2]); schemaVersion \"3\" kits are "
     "OCI images built from "
     "a descriptor, which kitgate does not load"},
    {"SchemaVersion7", "schemaVersion: \"7\"\n", 1, 16,
     "manifest: unsupported schemaVersion \"7\" (supported: [1 2])"},
    {"KindMissing", "schemaVersion: \"2\"\nname: t\n", 1, 1, "manifest: kind is required"},
    {"KindInvalid", "schemaVersion: \"2\"\nkind: agentt\nname: t\n", 2, 7,
     "manifest: invalid kind \"agentt\" (must be \"sandbox\" or \"mixin\")"},
    {"NameMissing", "schemaVersion: \"2\"\nkind: mixin\n", 1, 1, "manifest: name is required"},
    {"NameInvalid", "schemaVersion: \"2\"\nkind: mixin\nname: My_Kit\n", 3, 7,
     "manifest: invalid name \"My_Kit\" (must be lowercase alphanumeric with hyphens, 1-64 chars)"},
    {"SandboxWithoutBlock", "schemaVersion: \"2\"\nkind: sandbox\nname: t\n", 1, 1,
     "kind \"sandbox\" requires a 'sandbox:' block with at least 'sandbox.image'"},
    {"SandboxWithoutImage",
     "schemaVersion: \"2\"\nkind: sandbox\nname: t\nsandbox:\n  entrypoint: [x]\n", 4, 1,
     "manifest: template is required for kind \"sandbox\""},
    {"MixinWithSandbox", V2MIX "sandbox:\n  image: x\n", 4, 1,
     "'sandbox:' block is only valid for kind \"sandbox\", not \"mixin\""},
    {"V1MixinWithAgent", "schemaVersion: \"1\"\nkind: mixin\nname: t\nagent:\n  image: x\n", 4, 1,
     "'agent:' block is only valid for kind \"agent\", not \"mixin\""},
    {"V1AgentWithoutBlock", "schemaVersion: \"1\"\nkind: agent\nname: t\n", 1, 1,
     "kind \"agent\" requires an 'agent:' block with at least 'agent.image'"},
    {"V1FlatTemplate", V1 "template: x\n", 6, 1,
     "use the 'agent:' block instead of flat 'template'/'binary'/'runOptions' fields"},
    {"V1FlatAiFilename", V1 "aiFilename: X.md\n", 6, 1,
     "use 'agent.aiFilename' instead of flat 'aiFilename' field"},
    {"V1BadPersistence", V1 "  persistence: forever\n", 6, 16,
     "manifest: invalid persistence \"forever\" (must be \"ephemeral\" or \"persistent\")"},
    {"MixinExtendsV2", V2MIX "extends: claude\n", 4, 1,
     "kind \"mixin\" must not set extends (kit-spec v2): mixins are base-agnostic additions; use a "
     "kind \"sandbox\" "
     "kit with extends to derive from a parent agent"},
    {"RequiresOnSandbox", V2 "requires:\n  agent: claude\n", 6, 1,
     "requires.agent is only valid for kind \"mixin\", not \"sandbox\" — base-agent affinity "
     "applies to a mixin "
     "layered onto an agent"},
    {"RequiresBadName", V2MIX "requires:\n  agent: Claude\n", 5, 10,
     "requires.agent \"Claude\" is not a valid agent name (must be lowercase alphanumeric with "
     "hyphens, 1-64 chars)"},
    {"LockedBadPath", V2 "locked: [Sandbox.image]\n", 6, 10,
     "locked[0] \"Sandbox.image\" is not a well-formed dotted path"},
    {"LicenseDuplicated", V2 "licenses: [MIT, MIT]\n", 6, 17, "licenses[1] \"MIT\" is duplicated"},
    {"PortOutOfRange", V2 "ports:\n  - container: 70000\n", 7, 16,
     "publishedPorts[0].container must be in 1..65535 (got 70000)"},
    {"PortBadProtocol", V2 "ports:\n  - container: 80\n    protocol: sctp\n", 8, 15,
     "publishedPorts[0].protocol must be empty, \"tcp\" or \"udp\" (got \"sctp\")"},
    {"PortQuotedNumber", V2 "ports:\n  - container: \"80\"\n", 7, 16,
     "cannot unmarshal !!str `80` into int"},
    {"InstallCommandMissing", V2 "setup:\n  install:\n    - user: \"0\"\n", 8, 7,
     "commands: install[0].command is required"},
    {"InstallCommandList", V2 "setup:\n  install:\n    - command: [a, b]\n", 8, 16,
     "cannot unmarshal !!seq into string"},
    {"StartupCommandMissing", V2 "setup:\n  startup:\n    - user: \"1000\"\n", 8, 7,
     "commands: startup[0].command is required"},
    {"FilesPathRelative", V2 "setup:\n  files:\n    - path: relative/x\n", 8, 13,
     "commands: initFiles[0].path must be absolute (got \"relative/x\")"},
    {"FilesModeNotOctal", V2 "setup:\n  files:\n    - path: /x\n      mode: \"0999\"\n", 9, 13,
     "commands: initFiles[0].mode must be octal (e.g. \"0755\"), got \"0999\""},
    {"InstallNotAList", V2 "setup:\n  install:\n    command: x\n", 8, 5,
     "cannot unmarshal !!map into []spec.InstallCommand"},
    {"BackgroundNotBool", V2 "setup:\n  startup:\n    - command: [x]\n      background: yes\n", 9,
     19, "cannot unmarshal !!str `yes` into bool"},
    {"EnvNotShellIdentifier", V2 "environment:\n  variables:\n    1BAD: x\n", 8, 5,
     "environment: variable key \"1BAD\" is not a valid shell identifier"},
    {"V1ProxyManagedNotIdentifier", V1 "environment:\n  proxyManaged: [\"A-B\"]\n", 7, 18,
     "environment: proxyManaged entry \"A-B\" is not a valid shell identifier"},
    {"V2ProxyManagedIsV1Only", V2 "environment:\n  proxyManaged: [X]\n", 7, 3,
     "field proxyManaged not found in type spec.environmentV2"},
    {"CredentialServiceMissing", V2 "credentials:\n  - description: x\n", 7, 5,
     "artifact: credentials[0]: service is required"},
    {"InjectDomainMissing",
     V2 "credentials:\n  - service: s\n    apiKey:\n      inject:\n        - header: X\n          "
        "format: \"%s\"\n",
     10, 11, "credentials[0].apiKey.inject[0].domain is required"},
    {"InjectBasicWithoutUsername",
     V2 "credentials:\n  - service: s\n    apiKey:\n      inject:\n        - domain: a.com\n       "
        "   scheme: basic\n",
     11, 19, "credentials[0].apiKey.inject[0]: scheme: basic requires 'username'"},
    {"InjectSchemeAndFormat",
     V2 "credentials:\n  - service: s\n    apiKey:\n      inject:\n        - domain: a.com\n       "
        "   scheme: bearer\n          format: \"x %s\"\n",
     11, 19, "credentials[0].apiKey.inject[0]: 'scheme' and 'format' are mutually exclusive"},
    {"InjectUnknownScheme",
     V2 "credentials:\n  - service: s\n    apiKey:\n      inject:\n        - domain: a.com\n       "
        "   scheme: digest\n",
     11, 19,
     "credentials[0].apiKey.inject[0]: unknown scheme \"digest\" (want \"basic\" or \"bearer\")"},
    {"InjectUsernameWithColon",
     V2 "credentials:\n  - service: s\n    apiKey:\n      inject:\n        - domain: a.com\n       "
        "   scheme: basic\n          username: \"a:b\"\n",
     12, 21, "credentials[0].apiKey.inject[0].username \"a:b\" must not contain ':'"},
    {"ApiKeyNameNotIdentifier",
     V2 "credentials:\n  - service: s\n    apiKey:\n      name: MY-KEY\n", 9, 13,
     "credentials[0].apiKey.name \"MY-KEY\" is not a valid shell identifier"},
    {"OAuthSentinelMissing",
     V2 "credentials:\n  - service: s\n    oauth:\n      tokenEndpoint: {host: h, path: /t}\n      "
        "sentinels: {refreshToken: r}\n      credentialFile: {path: /x, template: t}\n",
     10, 18, "artifact: credentials[0] (service \"s\"): oauth: sentinels.accessToken is required"},
    {"V1OAuthServiceMissing", V1 "oauth:\n  tokenEndpoint: {host: h, path: /t}\n", 7, 3,
     "artifact: oauth: service is required"},
    {"VolumeRelativePath", V2 "volumes:\n  - path: cache\n", 7, 5,
     "manifest: volumes[0].path \"cache\" must be an absolute path"},
    {"VolumeBadType", V2 "volumes:\n  - path: /c\n    type: nfs\n", 7, 5,
     "manifest: volumes[0].type \"nfs\" is invalid (must be omitted or \"tmpfs\")"},
    {"VolumeBadSize", V2 "volumes:\n  - path: /c\n    size: lots\n", 7, 5,
     "manifest: volumes[0].size \"lots\" is not a valid size: invalid size: 'lots'"},
    {"ResourcesNegativeCpu", V2 "  resources: {cpu: -1}\n", 6, 20,
     "manifest: resources.cpu must be non-negative (got -1)"},
    {"ResourcesBadMemory", V2 "  resources: {memory: 4q}\n", 6, 23,
     "sandbox.resources.memory \"4q\" is not a valid size: invalid size: '4q'"},
    {"CommandScalar", V2 "  command: run\n", 6, 12,
     "sandbox.command: must be a list (shorthand) or a mapping with default/interactive"},
    {"ExtendsUnknown", "schemaVersion: \"2\"\nkind: sandbox\nname: t\nextends: nosuchagent\n", 4,
     10,
     "extends: unknown base agent \"nosuchagent\" (extends names a built-in agent such as claude, "
     "codex or shell)"},
    {"DocumentIsAList", "- a\n- b\n", 1, 1,
     "artifact: invalid spec.yaml: the document must be a mapping of fields, not !!seq"},
    {"EmptyDocument", "# nothing\n", 1, 1, "artifact: invalid spec.yaml: the document is empty"},
    {"ArgsBothDefaultAndRequired", V2MIX "args:\n  a: {default: x, required: true}\n", 5, 3,
     "args[\"a\"] declares both a default and required: true (a required argument has no default)"},
    {"ArgsNeither", V2MIX "args:\n  a: {description: x}\n", 5, 3,
     "args[\"a\"] must declare either a default or required: true"},
    {"ArgsBadName", V2MIX "args:\n  a.b: {default: x}\n", 5, 3,
     "args[\"a.b\"] is not a valid argument name (letters, digits, '_' and '-', not starting with "
     "a digit)"},
    {"ArgsDefaultNotInEnum", V2MIX "args:\n  c: {default: x, enum: [a, b]}\n", 5, 16,
     "args[\"c\"].default: \"x\" is not one of \"a\", \"b\""},
    {"ArgsBadRegexp", V2MIX "args:\n  c: {default: x, pattern: \"(\"}\n", 5, 28,
     "args[\"c\"].pattern is not a valid regexp: missing ): ("},
    {"ArgsUndeclaredReference",
     V2MIX "environment:\n  variables:\n    A: \"${{ kit.args.nope }}\"\n", 6, 8,
     "spec.yaml references ${{ kit.args.nope }}, which spec.yaml does not declare in its args: "
     "block"},
    {"ArgsReferenceInKey",
     V2MIX "args:\n  k: {default: X}\nenvironment:\n  variables:\n    \"${{ kit.args.k }}\": v\n",
     8, 5,
     "mapping key \"${{ kit.args.k }}\" references an argument, which may only stand in for a "
     "value"},
    {"InvalidYaml", V2 "  entrypoint: [a, b\n", 7, 1,
     "invalid YAML: end of sequence flow not found"},
};

class ErrorMessage : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorMessage, FirstErrorHasExactTextAndPosition) {
  const ErrorCase& c = GetParam();
  LoadResult r = loadSpecBytes(c.yaml);
  auto errors = r.errors();
  ASSERT_FALSE(errors.empty()) << c.yaml;
  std::string all;
  for (const auto* d : errors) all += renderDiagnostic(*d, r.spec_text, false);
  const Diagnostic& d = *errors[0];
  std::string expected = c.message;
  if (!expected.empty() && expected.back() == ' ') {
    // Pattern errors end with the policy parser's own explanation.
    EXPECT_EQ(d.message.substr(0, expected.size()), expected) << all;
    EXPECT_GT(d.message.size(), expected.size()) << all;
  } else {
    EXPECT_EQ(d.message, expected) << all;
  }
  EXPECT_EQ(d.line, c.line) << all;
  EXPECT_EQ(d.column, c.column) << all;
  EXPECT_EQ(d.file, "spec.yaml");
}

INSTANTIATE_TEST_SUITE_P(Kits, ErrorMessage, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<ErrorCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(ErrorMessage, AtLeastFortyCases) { EXPECT_GE(std::size(kCases), 40u); }

TEST(Diagnostics, EveryProblemIsReportedAtOnceInSourceOrder) {
  LoadResult r = loadSpecBytes(
      "schemaVersion: \"2\"\nkind: sandbox\nname: Bad_Name\nsandbox:\n  image: x\n  bogus: 1\n"
      "environment:\n  variables:\n    9X: y\nports:\n  - container: 0\n");
  auto errors = r.errors();
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0]->line, 3);
  EXPECT_EQ(errors[1]->line, 6);
  EXPECT_EQ(errors[2]->line, 9);
  EXPECT_EQ(errors[3]->line, 11);
}

TEST(Diagnostics, RenderShowsLineAndCaretUnderTheColumn) {
  LoadResult r = loadSpecBytes(V2 "ports:\n  - container: 70000\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(renderDiagnostic(*r.errors()[0], r.spec_text, false),
            "spec.yaml:7:16: error: publishedPorts[0].container must be in 1..65535 (got 70000)\n"
            "    - container: 70000\n"
            "                 ^\n");
}

TEST(Diagnostics, ColourOnlyWhenAsked) {
  LoadResult r = loadSpecBytes(V2 "ports:\n  - container: 70000\n");
  EXPECT_EQ(renderDiagnostic(*r.errors()[0], r.spec_text, false).find('\033'), std::string::npos);
  EXPECT_NE(renderDiagnostic(*r.errors()[0], r.spec_text, true).find("\033[1;31merror:"),
            std::string::npos);
}

TEST(Warnings, WildcardInjectDomainWarnsAboutInterception) {
  LoadResult r = loadSpecBytes(V2
                               "permissions:\n  network:\n    allow: [\"*.dev.azure.com\"]\n"
                               "credentials:\n  - service: az\n    apiKey:\n      name: AZ_TOKEN\n"
                               "      inject:\n        - {domain: \"*.dev.azure.com\", header: "
                               "Authorization, format: \"Basic %s\"}\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.warningMessages().size(), 1u);
  EXPECT_EQ(
      r.warningMessages()[0],
      "credentials[0].apiKey.inject[0]: \"*.dev.azure.com\" is a wildcard: every matching host "
      "will be "
      "TLS-intercepted (MITM) by the proxy to inject the credential; list exact hosts instead");
}

TEST(Warnings, V1WildcardServiceDomainWarns) {
  LoadResult r = loadSpecBytes(
      V1
      "network:\n  allowedDomains: [\"*.x.com\"]\n  serviceDomains: {\"*.x.com\": s}\n"
      "  serviceAuth: {s: {headerName: A, valueFormat: \"%s\"}}\n");
  ASSERT_TRUE(r.ok());
  bool found = false;
  for (const auto& w : r.warningMessages())
    found = found || w.find("is a wildcard: every matching host will be TLS-intercepted") !=
                         std::string::npos;
  EXPECT_TRUE(found);
}

TEST(Warnings, ReservedEnvNameAndProxyManagedCollision) {
  LoadResult r = loadSpecBytes(
      V2
      "environment:\n  variables:\n    SBX_MODE: x\n    GH_TOKEN: y\n"
      "credentials:\n  - service: github\n    apiKey: {name: GH_TOKEN, proxyManaged: true}\n");
  ASSERT_TRUE(r.ok());
  auto w = r.warningMessages();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("\"SBX_MODE\" is reserved for the runtime"), std::string::npos);
  EXPECT_NE(w[1].find("\"GH_TOKEN\" is also proxy-managed"), std::string::npos);
}

TEST(Warnings, MixinAgentInstructionsFilenameIsIgnored) {
  LoadResult r = loadSpecBytes(V2MIX "agentInstructions: {filename: X.md, content: hi}\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.warningMessages(),
            std::vector<std::string>{"field \"agentInstructions.filename\" ignored: only used for "
                                     "kind \"sandbox\", not \"mixin\""});
  EXPECT_EQ(r.kit.agent_instructions.filename, "");
}

TEST(Scalars, KeepTheirLiteralText) {
  LoadResult r =
      loadSpecBytes(V2
                    "version: 1.20\nenvironment:\n  variables:\n    N: 1\n    B: true\n    E: \n"
                    "setup:\n  install:\n    - command: id\n      user: 1000\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.kit.version, "1.20");
  EXPECT_EQ(r.kit.environment.at("N"), "1");
  EXPECT_EQ(r.kit.environment.at("B"), "true");
  EXPECT_EQ(r.kit.environment.at("E"), "");
  EXPECT_EQ(r.kit.setup.install[0].user, "1000");
}

TEST(Scalars, SchemaVersionAsIntegerIsAccepted) {
  LoadResult r = loadSpecBytes("schemaVersion: 2\nkind: mixin\nname: t\n");
  EXPECT_TRUE(r.ok());
}

TEST(Defaults, SetupUsersAndFileModeDefault) {
  LoadResult r = loadSpecBytes(
      V2 "setup:\n  install: [{command: a}]\n  startup: [{command: [b]}]\n  files: [{path: /c}]\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.kit.setup.install[0].user, "0");
  EXPECT_EQ(r.kit.setup.startup[0].user, "1000");
  EXPECT_EQ(r.kit.setup.files[0].mode, "0644");
}

// Kits sbx says VALID stay VALID: what kitgate knows beyond sbx (rule
// syntax its policy engine refuses, middle-label wildcards, proxy variables,
// credential shapes the proxy cannot inject) is a warning at the offending
// line:column, never an error (kit-spec §2.6, §1.5.8). `message` is exact,
// or a prefix when it ends with "…".
const ErrorCase kWarningCases[] = {
    // Proxy variables (any case): kitgate's proxy settings win at run.
    {"HttpsProxyLower", V2 "environment:\n  variables:\n    https_proxy: http://evil\n", 8, 5,
     "environment: variable \"https_proxy\" should not be set by a kit: it would route traffic "
     "around the egress proxy; at run kitgate's own proxy settings win (a NO_PROXY keeps only its "
     "loopback entries)"},
    {"HttpProxyEmpty", V2 "environment:\n  variables:\n    HTTP_PROXY: \"\"\n", 8, 5,
     "environment: variable \"HTTP_PROXY\" should not be set by a kit…"},
    {"NoProxyList",
     V2 "environment:\n  variables:\n    NO_PROXY: \"localhost,127.0.0.1,host.docker.internal\"\n",
     8, 5, "environment: variable \"NO_PROXY\" should not be set by a kit…"},
    {"AllProxyMixedCase", V2 "environment:\n  variables:\n    All_Proxy: socks5://x\n", 8, 5,
     "environment: variable \"All_Proxy\" should not be set by a kit…"},
    // Rule syntax kitgate's policy engine refuses (sbx does not check it).
    {"AllowBareStar", V2 "permissions:\n  network:\n    allow: [\"*\"]\n", 8, 14,
     "permissions.network.allow[0]: pattern \"*\" is not valid for kitgate's policy engine: bare "
     "'*'…"},
    {"AllowPortRange", V2 "permissions:\n  network:\n    allow:\n      - example.com:80-443\n", 9,
     23, "permissions.network.allow[0]: pattern \"example.com:80-443\" is not valid…"},
    {"DenyLastLabelWildcard", V2 "permissions:\n  network:\n    deny: [\"example.*\"]\n", 8, 21,
     "permissions.network.deny[0]: pattern \"example.*\" is not valid…"},
    {"AllowEmpty", V2 "permissions:\n  network:\n    allow: [\"\"]\n", 8, 13,
     "permissions.network.allow[0] is empty: it matches nothing…"},
    {"V1AllowedDomainsEmptyLabel", V1 "network:\n  allowedDomains: [\"a..b\"]\n", 7, 23,
     "network.allowedDomains[0]: pattern \"a..b\" is not valid…"},
    {"InjectDomainDoubleStarInMiddle",
     INJECT("\"api.**.com\"", "          header: X\n          format: \"%s\"\n"), 10, 24,
     "credentials[0].apiKey.inject[0].domain: pattern \"api.**.com\" is not valid…"},
    // Middle-label wildcards: honoured, and the warning says how.
    {"AllowMiddleWildcard",
     V2 "permissions:\n  network:\n    allow: [\"bedrock-runtime.*.amazonaws.com\"]\n", 8, 30,
     "permissions.network.allow[0]: \"bedrock-runtime.*.amazonaws.com\" has a wildcard label in "
     "the middle: kitgate matches exactly one label at that position"},
    {"InjectMiddleWildcard",
     INJECT("\"api.*.example.com\"", "          header: X\n          format: \"%s\"\n"), 10, 24,
     "credentials[0].apiKey.inject[0].domain: \"api.*.example.com\" has a wildcard label in the "
     "middle: kitgate matches exactly one label at that position; the sandbox's interception CA "
     "is name-constrained to the fixed suffix \"example.com\" (every name below it)"},
    {"V1ServiceDomainMiddleWildcard",
     V1 "network:\n  serviceDomains:\n    \"bedrock-runtime.*.amazonaws.com\": aws\n", 8, 22,
     "network.serviceDomains[\"bedrock-runtime.*.amazonaws.com\"]: "
     "\"bedrock-runtime.*.amazonaws.com\" has a wildcard label in the middle: kitgate matches "
     "exactly one label at that position; the sandbox's interception CA is name-constrained to "
     "the fixed suffix \"amazonaws.com\" (every name below it)"},
    {"InjectDomainGlob",
     INJECT("\"api?.example.com\"", "          header: X\n          format: \"%s\"\n"), 10, 20,
     "credentials[0].apiKey.inject[0].domain: \"api?.example.com\" cannot be a credential host "
     "for kitgate's proxy: glob patterns cannot be intercepted…"},
    {"InjectDomainWithPort",
     INJECT("\"api.example.com:443\"", "          header: X\n          format: \"%s\"\n"), 10, 35,
     "credentials[0].apiKey.inject[0].domain: \"api.example.com:443\" cannot be a credential "
     "host for kitgate's proxy: credential hosts take no port…"},
    {"V1ServiceDomainAnyHost", V1 "network:\n  serviceDomains:\n    \"**\": s\n", 8, 6,
     "network.serviceDomains[\"**\"]: \"**\" cannot be a credential host for kitgate's proxy: "
     "\"**\" would intercept every host…"},
    // Credential shapes the proxy cannot inject.
    {"InjectFormatTwoPercentS",
     INJECT("a.com", "          header: X\n          format: \"%s %s\"\n"), 12, 19,
     "credentials[0].apiKey.inject[0].format \"%s %s\" must contain exactly one %s…"},
    {"InjectFormatNoPercentS", INJECT("a.com", "          header: X\n          format: Bearer\n"),
     12, 19, "credentials[0].apiKey.inject[0].format \"Bearer\" must contain exactly one %s…"},
    {"InjectHeaderNotToken",
     INJECT("a.com", "          header: \"X Api Key\"\n          format: \"%s\"\n"), 11, 19,
     "credentials[0].apiKey.inject[0].header \"X Api Key\" is not a valid HTTP header name…"},
    {"InjectHeaderWithoutFormat", INJECT("a.com", "          header: X\n"), 11, 19,
     "credentials[0].apiKey.inject[0]: 'header' without 'format'…"},
    {"ApiKeyNameReserved", V2 "credentials:\n  - service: s\n    apiKey: {name: PATH}\n", 8, 20,
     "credentials[0].apiKey.name \"PATH\" is reserved for the runtime and may not reach the agent"},
    // v1 network / credentials.sources checks the reference dropped (PR #64).
    {"V1ProxyManagedReserved", V1 "environment:\n  proxyManaged: [PATH]\n", 7, 18,
     "environment: proxyManaged entry \"PATH\" is reserved for the runtime and may not reach the "
     "agent"},
    {"V1ServiceAuthFormat",
     V1 "network:\n  serviceDomains: {a.com: s}\n  serviceAuth:\n    s: {headerName: X, "
        "valueFormat: Bearer}\n",
     9, 37,
     "network: serviceAuth[\"s\"].valueFormat must contain exactly one %s placeholder (got "
     "\"Bearer\")"},
    {"V1SourceWithoutEnvOrFile", V1 "credentials:\n  sources:\n    s: {required: true}\n", 8, 8,
     "credentials: sources[\"s\"] must have at least one of env or file"},
};

class WarningMessage : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(WarningMessage, KitStaysValidAndTheWarningHasItsPosition) {
  const ErrorCase& c = GetParam();
  LoadResult r = loadSpecBytes(c.yaml);
  std::string all;
  for (const auto& d : r.diagnostics) all += renderDiagnostic(d, r.spec_text, false);
  ASSERT_TRUE(r.ok()) << all;
  std::string expected = c.message;
  const std::string ellipsis = "…";
  const bool prefix =
      expected.size() > ellipsis.size() &&
      expected.compare(expected.size() - ellipsis.size(), ellipsis.size(), ellipsis) == 0;
  if (prefix) expected.resize(expected.size() - ellipsis.size());
  const Diagnostic* found = nullptr;
  for (const auto& d : r.diagnostics) {
    if (d.severity != Severity::kWarning) continue;
    if (prefix ? d.message.rfind(expected, 0) == 0 : d.message == expected) found = &d;
  }
  ASSERT_NE(found, nullptr) << "no warning " << expected << " in\n" << all;
  EXPECT_EQ(found->line, c.line) << all;
  EXPECT_EQ(found->column, c.column) << all;
  EXPECT_EQ(found->file, "spec.yaml");
  // The caret lands on the line it names.
  EXPECT_NE(renderDiagnostic(*found, r.spec_text, false).find("warning: "), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Kits, WarningMessage, ::testing::ValuesIn(kWarningCases),
                         [](const ::testing::TestParamInfo<ErrorCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

// Docker's own crush kit (docker/sbx-kits-contrib crush/spec.yaml), reduced
// to the lines that made kitgate refuse it.
TEST(SbxVerdict, CrushKitWithMiddleWildcardServiceDomainIsValid) {
  LoadResult r = loadSpecBytes(
      "schemaVersion: \"1\"\nkind: sandbox\nname: crush\nsandbox:\n"
      "  image: docker/sandbox-templates:shell-docker\nnetwork:\n"
      "  allowedDomains: [\"bedrock-runtime.*.amazonaws.com\"]\n"
      "  serviceDomains:\n    \"bedrock-runtime.*.amazonaws.com\": aws\n");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.kit.credentials.size(), 1u);
  ASSERT_TRUE(r.kit.credentials[0].api_key);
  EXPECT_EQ(r.kit.credentials[0].api_key->inject[0].domain, "bedrock-runtime.*.amazonaws.com");
}

}  // namespace
}  // namespace kitgate::kit
