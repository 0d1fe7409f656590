#include "broker/dispatch/holds.hpp"

#include <algorithm>

#include "broker/objects/labels.hpp"

namespace pb::broker::dispatch {

Result<std::map<std::string, std::vector<std::string>>> sessions_by_credential(DockerClient& docker) {
  PB_TRY(auto volumes, docker.volume_list(labels::filter(Role::hold)));
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& v : volumes) {
    auto cred = v.labels.find(labels::k_credential);
    auto session = v.labels.find(labels::k_session);
    if (cred == v.labels.end() || session == v.labels.end()) continue;
    out[cred->second].push_back(session->second);
  }
  for (auto& [cred, sessions] : out) std::sort(sessions.begin(), sessions.end());
  return out;
}

}  // namespace pb::broker::dispatch
