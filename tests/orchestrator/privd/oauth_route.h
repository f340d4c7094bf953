// A kit's proxy-managed OAuth route as `kitgate run` sends it to the daemon
// (Claude's: token endpoint, resource host, sentinels), for the privd tests.
#pragma once

#include "proxy/secrets/oauth.h"

namespace kitgate::privd::testing {

inline secrets::OAuthRoute claudeOAuthRoute() {
  secrets::OAuthRoute route;
  route.service = "anthropic";
  route.token_host = "platform.claude.com";
  route.token_path = "/v1/oauth/token";
  route.resource_hosts = {"api.anthropic.com"};
  route.access_sentinel = "sk-ant-oat01-proxy-managed";
  route.refresh_sentinel = "sk-ant-ort01-proxy-managed";
  return route;
}

}  // namespace kitgate::privd::testing
