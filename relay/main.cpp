#include "relay/relay.hpp"

int main(int argc, char** argv) {
  return pb::relay::run(argc, argv);
}
