// privd_call SOCKET VERB [NAME] — the e2e test's client for the kitgate
// daemon: sends one request through the CLI's own client code
// (orchestrator/privd/client.h), prints the daemon's answer. Exit 0 = done,
// 1 = the daemon refused or could not be reached (message on stderr).
// The token of sandbox-write comes from $PRIVD_TOKEN (never argv).
#include <cstdlib>
#include <iostream>
#include <string>

#include "orchestrator/privd/client.h"

int main(int argc, char** argv) {
  using namespace kitgate::privd;
  if (argc < 3) {
    std::cerr << "usage: privd_call SOCKET VERB [NAME]\n";
    return 2;
  }
  Request r;
  bool known = false;
  for (Verb v : {Verb::kHello, Verb::kFirewallIsolate, Verb::kFirewallRelease, Verb::kProxyEnsure,
                 Verb::kProxyReload, Verb::kSandboxWrite, Verb::kSandboxRemove, Verb::kSandboxCa,
                 Verb::kSandboxToken, Verb::kPlaceholders, Verb::kCaRemove, Verb::kSecretsRemove}) {
    if (verbName(v) == argv[2]) {
      r.verb = v;
      known = true;
    }
  }
  if (!known) {
    std::cerr << "privd_call: unknown verb " << argv[2] << "\n";
    return 2;
  }
  if (argc > 3) r.name = argv[3];
  if (const char* token = std::getenv("PRIVD_TOKEN"); token != nullptr) r.token = token;
  auto reply = callOk(argv[1], r);
  if (!reply.isOk()) {
    std::cerr << reply.status().message() << "\n";
    return 1;
  }
  std::cout << reply->text;
  return 0;
}
