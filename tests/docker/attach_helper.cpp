// Test helper: attaches this process's terminal to a container's TTY with
// DockerClient::attach_terminal (starting the container), as `login` does.
// Usage: attach_helper CONTAINER. Exit status: 0 when the container's stream
// ended, else the documented exit code of the error.

#include <unistd.h>

#include <cstdio>
#include <string>

#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: attach_helper CONTAINER\n");
    return 2;
  }
  auto docker = pb::broker::docker::connect_from_environment();
  if (!docker.ok()) {
    std::fprintf(stderr, "attach_helper: %s\r\n", docker.error().message.c_str());
    return pb::exit_code(docker.error().kind);
  }
  pb::broker::TerminalOptions options;
  options.in_fd = STDIN_FILENO;
  options.out_fd = STDOUT_FILENO;
  options.start = true;
  pb::Status s = (*docker)->attach_terminal(argv[1], options);
  if (!s.ok()) {
    std::fprintf(stderr, "attach_helper: %s\r\n", s.error().message.c_str());
    return pb::exit_code(s.error().kind);
  }
  return 0;
}
