#pragma once
// The command line: sluice run | once | check | queue ... | --version.
// Exit status: 0 success; 1 runtime failure or work left pending (once); 2 invalid config or
// usage.
namespace sluice {
int cliMain(int argc, char** argv);
}
