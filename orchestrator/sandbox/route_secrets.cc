#include "orchestrator/sandbox/route_secrets.h"

#include <variant>

#include "proxy/secrets/host_pattern.h"
#include "proxy/secrets/store_model.h"

namespace kitgate::sandbox {

std::string RouteSecretNote::text() const {
  if (!secret.empty()) return "credential " + service + " (" + hosts + "): " + secret;
  return "credential " + service + " (" + hosts +
         "): no secret set, requests go out without it (kitgate secret set " + service +
         ", or secret set-custom --host HOST)";
}

StatusOr<std::vector<RouteSecretNote>> routeSecretNotes(
    const state::Paths& paths, const std::string& sandbox,
    const std::vector<CredentialRoute>& routes) {
  auto model = secrets::readStoreFiles(paths.root);
  if (!model.isOk()) return model.status();
  std::vector<RouteSecretNote> out;
  for (const CredentialRoute& r : routes) {
    if (r.header.empty() && r.username.empty()) continue;  // routing only
    secrets::Route route{r.service, {}, r.header, r.format, r.username};
    RouteSecretNote note;
    note.service = r.service;
    for (const std::string& d : r.domains) {
      auto parsed = secrets::parseHostPattern(d);
      if (const auto* p = std::get_if<secrets::HostPattern>(&parsed)) {
        route.domains.push_back(*p);
        note.hosts += (note.hosts.empty() ? "" : ", ") + p->canonical;
      }
    }
    const secrets::RouteSecret used = secrets::routeSecret(*model, sandbox, route);
    if (used.kind != secrets::RouteSecret::Kind::kNone) note.secret = used.toString();
    out.push_back(std::move(note));
  }
  return out;
}

}  // namespace kitgate::sandbox
