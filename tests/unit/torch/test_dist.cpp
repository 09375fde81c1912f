// The rendezvous as newer torchrun runs it: its agent already holds the
// store at MASTER_PORT and sets TORCHELASTIC_USE_AGENT_STORE=True, so every
// rank, rank 0 too, joins it as a client. Two ranks on threads of this
// process, the agent's store beside them: texts through the store before the
// process group starts, then a sum in it.
#include "test_model_fixture.h"  // torch, then Catch

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "clippo/train/dist.h"

using clippo::train::Dist;
using clippo::train::DistEnv;

TEST_CASE("dist: every rank joins the store torchrun's agent holds", "[train]") {
  c10d::TCPStoreOptions agent_opts;
  agent_opts.port = 0;  // any free port
  agent_opts.isServer = true;
  agent_opts.waitWorkers = false;
  auto agent = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", agent_opts);
  ::setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
  ::setenv("CLIPPO_RENDEZVOUS_TIMEOUT", "60", 1);
  double sums[2] = {0, 0};
  std::string errors[2], shared[2];
  std::vector<std::string> gathered[2];
  auto rank = [&](int r) {
    try {
      DistEnv e;
      e.rank = r, e.world = 2, e.master_port = agent->getPort(), e.source = "torchrun";
      Dist dist(e);
      shared[r] = dist.share_text("config", r == 0 ? std::string("rank 0's\0text", 14) : "ignored");
      gathered[r] = dist.gather_text("verdict", r == 0 ? "" : "from rank 1");
      dist.start(/*cuda=*/false);
      auto t = torch::tensor({static_cast<double>(r + 1)}, torch::kFloat64);
      dist.all_reduce_sum(t);
      sums[r] = t.item<double>();
    } catch (const std::exception& ex) {
      errors[r] = ex.what();
    }
  };
  std::thread other(rank, 1);
  rank(0);
  other.join();
  ::unsetenv("TORCHELASTIC_USE_AGENT_STORE");
  ::unsetenv("CLIPPO_RENDEZVOUS_TIMEOUT");
  if (Dist::backends().find("gloo") == std::string::npos) {
    CHECK_THAT(errors[0], Catch::Contains("needs Gloo"));  // a build without Gloo says so
    return;
  }
  CHECK(errors[0].empty());
  CHECK(errors[1].empty());
  for (int r = 0; r < 2; ++r) {
    CHECK(shared[r] == std::string("rank 0's\0text", 14));  // bytes, NUL too
    CHECK(gathered[r] == std::vector<std::string>{"", "from rank 1"});
  }
  CHECK(sums[0] == 3.0);  // 1 + 2, summed in float64 on both ranks
  CHECK(sums[1] == 3.0);
}
