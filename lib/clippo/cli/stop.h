// SIGINT and SIGTERM as a request to stop, the same in every tool: the tool
// checks stop_signal() where it is safe to stop, finishes or discards what
// it writes, and exits with 128 + the signal.
#pragma once

namespace clippo::cli {

enum StopHow : unsigned {
  kSecondSignalKills = 1u << 0,  // a second SIGINT or SIGTERM ends the process at once
  // SIGHUP and SIGPIPE (the terminal closed, the pipe reading stderr gone)
  // stop too, unless the process was started with them ignored (nohup):
  // for a tool that writes nothing to stdout and has work to save.
  kHangupStops = 1u << 1,
};
void catch_stop_signals(unsigned how = 0);

// While one lives (until end()), a stop signal, or one that came before,
// ends the process at once with 128 + the signal, after "PROGRAM: stopped by
// signal WHY": for start-up work that has nothing to save and may wait where
// it cannot look at stop_signal() (a rendezvous). After catch_stop_signals().
class StopAtOnce {
 public:
  StopAtOnce(const char* program, const char* why);
  ~StopAtOnce() { end(); }
  void end();  // stop_signal() from here on
  StopAtOnce(const StopAtOnce&) = delete;
  StopAtOnce& operator=(const StopAtOnce&) = delete;
};

// The signal that asked to stop, or 0.
int stop_signal();

// Ends every wait for input, as a stop signal does, without one: for a tool
// that leaves early on an error while a thread still reads a pipe.
void stop_reading(bool stop = true);  // false: reads wait again (no signal came)
// A stop signal came, or stop_reading() was called: reads of pipes give up.
bool reading_stopped();

}  // namespace clippo::cli
