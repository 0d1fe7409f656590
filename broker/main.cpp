#include "broker/commands/run.hpp"

int main(int argc, char** argv) {
  return pb::broker::run(argc, argv);
}
