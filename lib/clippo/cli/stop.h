// SIGINT and SIGTERM as a request to stop, the same in every tool: the tool
// checks stop_signal() where it is safe to stop, finishes or discards what
// it writes, and exits with 128 + the signal.
#pragma once

namespace clippo::cli {

enum StopHow : unsigned {
  kInterruptReads = 1u << 0,     // a read waiting on a pipe returns (EINTR) instead of going on
  kSecondSignalKills = 1u << 1,  // a second signal ends the process at once
};
void catch_stop_signals(unsigned how = 0);

// The signal that asked to stop, or 0.
int stop_signal();

}  // namespace clippo::cli
