// sluice: storage events in, durable at-least-once deliveries out. See README.md.
#include "daemon/cli.hpp"

int main(int argc, char** argv) { return sluice::cliMain(argc, argv); }
