#include "orchestrator/privd/peer.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

#include "proxy/common/unique_fd.h"

namespace kitgate::privd {
namespace {

constexpr gid_t kDocker = 105;

// uid -> account, as /etc/passwd + /etc/group would say.
Account lookup(uid_t uid) {
  static const std::map<uid_t, Account> kAccounts = {
      {1000, {"alice", {1000, kDocker}}},  // docker as a supplementary group
      {1001, {"bob", {1001, 27}}},         // sudo group, not docker
      {1002, {"carol", {kDocker}}},        // docker as the primary group
      {1003, {"dave", {}}},                // groups could not be read
  };
  auto it = kAccounts.find(uid);
  return it == kAccounts.end() ? Account{} : it->second;
}

TEST(PeerCheck, RootIsAlwaysAllowed) {
  EXPECT_TRUE(authorizePeer({1, 0, 0}, kDocker, "docker", lookup).isOk());
  // Even without an account entry (uid 0 in a user namespace's view).
  EXPECT_TRUE(
      authorizePeer({1, 0, 12345}, kDocker, "docker", [](uid_t) { return Account{}; }).isOk());
}

TEST(PeerCheck, MembersOfTheGroupAreAllowedWhetherPrimaryOrSupplementary) {
  EXPECT_TRUE(authorizePeer({1, 1000, 1000}, kDocker, "docker", lookup).isOk());
  EXPECT_TRUE(authorizePeer({1, 1002, kDocker}, kDocker, "docker", lookup).isOk());
}

TEST(PeerCheck, OthersAreRefusedWithTheFix) {
  Status bob = authorizePeer({1, 1001, 1001}, kDocker, "docker", lookup);
  ASSERT_FALSE(bob.isOk());
  EXPECT_NE(bob.message().find("user bob (uid 1001) is not root and not in the docker group"),
            std::string::npos)
      << bob.message();
  EXPECT_NE(bob.message().find("usermod -aG docker bob"), std::string::npos);
  EXPECT_FALSE(authorizePeer({1, 1003, 1003}, kDocker, "docker", lookup).isOk());
}

TEST(PeerCheck, ThePeersOwnGidDoesNotCountOnlyTheAccounts) {
  // A process running with gid docker (setgid, newgrp) whose account is not
  // in the group: judged by the account.
  EXPECT_FALSE(authorizePeer({1, 1001, kDocker}, kDocker, "docker", lookup).isOk());
}

TEST(PeerCheck, UnknownUidsAreRefused) {
  Status s = authorizePeer({1, 4242, kDocker}, kDocker, "docker", lookup);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("uid 4242 has no account"), std::string::npos) << s.message();
}

TEST(PeerCheck, AnotherGroupNameIsNamedInTheRefusal) {
  Status s = authorizePeer({1, 1000, 1000}, 999, "kitgate", lookup);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("not in the kitgate group"), std::string::npos);
}

TEST(PeerCheck, PeerCredentialsAreTheKernels) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  UniqueFd a(fds[0]), b(fds[1]);
  auto cred = peerCredentials(a.get());
  ASSERT_TRUE(cred.isOk()) << cred.status().message();
  EXPECT_EQ(cred->uid, ::geteuid());
  EXPECT_EQ(cred->gid, ::getegid());
  EXPECT_EQ(cred->pid, ::getpid());
  EXPECT_FALSE(peerCredentials(-1).isOk());
}

TEST(PeerCheck, SystemAccountListsTheAccountsGroups) {
  const Account self = systemAccount(::geteuid());
  if (self.name.empty()) GTEST_SKIP() << "this uid has no passwd entry";
  EXPECT_FALSE(self.groups.empty());
  EXPECT_TRUE(systemAccount(static_cast<uid_t>(-2)).name.empty());
}

}  // namespace
}  // namespace kitgate::privd
