// registryAuthForImage: the X-Registry-Auth value `run` sends when it pulls a
// kit's image — Docker's base64url JSON, from `kitgate secret set --registry`
// first, then Docker's config.json (password or identity token), for every
// kind of image reference; "" when there is no login.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "orchestrator/cli/kit_settings.h"
#include "proxy/common/base64.h"

namespace kitgate::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class RegistryAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "kitgate-regauth-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    fs::create_directories(tmp_ / "docker");
    fs::create_directories(tmp_ / "state");
    ::setenv("DOCKER_CONFIG", (tmp_ / "docker").c_str(), 1);
    ::setenv("KITGATE_STATE_DIR", (tmp_ / "state").c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("DOCKER_CONFIG");
    ::unsetenv("KITGATE_STATE_DIR");
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
  void dockerConfig(const std::string& text) { std::ofstream(tmp_ / "docker/config.json") << text; }

  // The decoded JSON; the value must be base64url (what the daemon decodes).
  static json decoded(const std::string& value) {
    EXPECT_EQ(value.find_first_of("+/"), std::string::npos) << value;
    std::string standard = value;
    for (char& c : standard) {
      if (c == '-') c = '+';
      if (c == '_') c = '/';
    }
    auto text = base64Decode(standard);
    return text ? json::parse(*text, nullptr, false) : json();
  }

  fs::path tmp_;
};

TEST_F(RegistryAuth, DockerConfigLoginsForEveryKindOfImageReference) {
  // A password long enough that its base64 has '+' or '/' in standard form.
  const std::string password = "p>?>?>?~~~";
  dockerConfig("{\"auths\":{\"127.0.0.1:5000\":{\"username\":\"alice\",\"password\":\"" + password +
               "\"},\"https://index.docker.io/v1/\":{\"auth\":\"" + base64Encode("bob:hub-pw") +
               "\"},\"ghcr.io\":{\"identitytoken\":\"tok-123\"}}}");
  for (const std::string& image : {std::string("127.0.0.1:5000/team/agent:1"),
                                   "127.0.0.1:5000/team/agent@sha256:" + std::string(64, 'a'),
                                   std::string("127.0.0.1:5000/agent")}) {
    json j = decoded(registryAuthForImage(image));
    EXPECT_EQ(j.value("username", ""), "alice") << image;
    EXPECT_EQ(j.value("password", ""), password) << image;
    EXPECT_EQ(j.value("serveraddress", ""), "127.0.0.1:5000") << image;
  }
  for (const char* image : {"ubuntu", "library/ubuntu:24.04", "docker.io/acme/agent:1"}) {
    json j = decoded(registryAuthForImage(image));
    EXPECT_EQ(j.value("username", ""), "bob") << image;
    EXPECT_EQ(j.value("serveraddress", ""), "https://index.docker.io/v1/") << image;
  }
  json token = decoded(registryAuthForImage("ghcr.io/org/agent:1"));
  EXPECT_EQ(token.value("identitytoken", ""), "tok-123");
  EXPECT_FALSE(token.contains("password"));
  // No login for that registry, or no reference at all: anonymous.
  EXPECT_EQ(registryAuthForImage("quay.io/org/agent:1"), "");
  EXPECT_EQ(registryAuthForImage("sha256:" + std::string(64, 'b')), "");
}

TEST_F(RegistryAuth, KitgateRegistryLoginWinsOverDockers) {
  dockerConfig(
      "{\"auths\":{\"registry.example.com\":{\"username\":\"docker-user\","
      "\"password\":\"docker-pw\"}}}");
  std::ofstream(tmp_ / "state/registries.json")
      << "{\"auths\":{\"registry.example.com\":{\"username\":\"kitgate-user\","
         "\"password\":\"kitgate-pw\"}}}";
  json j = decoded(registryAuthForImage("registry.example.com/agent:1"));
  EXPECT_EQ(j.value("username", ""), "kitgate-user");
  EXPECT_EQ(j.value("password", ""), "kitgate-pw");
}

}  // namespace
}  // namespace kitgate::cli
