// clippo-train's maths against independent numpy restatements
// (tests/ref/train_ref.py, run with Debian's python3 or $CLIPPO_PYTHON).
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "test_model_fixture.h"  // torch, then Catch

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>

#include <fmt/core.h>

#include "clippo/cli/error.h"
#include "clippo/io/npy.h"
#include "clippo/model/autocast.h"
#include "clippo/model/vit.h"
#include "clippo/train/loss.h"
#include "clippo/train/optim.h"
#include "clippo/train/schedule.h"

namespace fs = std::filesystem;
using namespace clippo;
using namespace clippo::train;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / fmt::format("clippo-train-{}-{}", tag, ::getpid());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void save(const fs::path& dir, const std::string& name, const torch::Tensor& t0) {
  auto t = t0.detach().to(torch::kFloat32).contiguous();
  std::ofstream(dir / (name + ".npy"), std::ios::binary)
      << make_npy_from_floats(t.data_ptr<float>(), t.sizes().vec(), DType::f32);
}

void save64(const fs::path& dir, const std::string& name, const std::vector<double>& v) {
  std::ofstream(dir / (name + ".npy"), std::ios::binary)
      << make_npy(DType::f64, {static_cast<int64_t>(v.size())}, v.data());
}

torch::Tensor load(const fs::path& dir, const std::string& name) {
  std::ifstream f(dir / (name + ".npy"), std::ios::binary);
  REQUIRE(f.good());
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  NpyHeader h;
  auto v = npy_to_floats(bytes, name, &h);
  return torch::from_blob(v.data(), h.shape, torch::kFloat32).clone();
}

void run_ref(const std::string& cmd, const fs::path& dir) {
  std::string line = clippo::test::python() + " " + std::string(CLIPPO_TEST_REF) + "/train_ref.py " + cmd + " " + dir.string();
  REQUIRE(std::system(line.c_str()) == 0);
}

bool close(const torch::Tensor& a, const torch::Tensor& b, double rtol, double atol) {
  bool ok = a.sizes() == b.sizes() && torch::allclose(a.to(torch::kFloat64), b.to(torch::kFloat64), rtol, atol);
  if (!ok) UNSCOPED_INFO("max |a-b| = " << (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>());
  return ok;
}

}  // namespace

TEST_CASE("contrastive loss and its gradient match numpy", "[train]") {
  TempDir d("loss");
  torch::manual_seed(3);
  auto za = torch::nn::functional::normalize(torch::randn({7, 5}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto zb = torch::nn::functional::normalize(torch::randn({7, 5}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto t = torch::full({1}, std::log(10.0f));
  save(d.path, "za", za);
  save(d.path, "zb", zb);
  save(d.path, "t", t);
  run_ref("loss", d.path);
  za.requires_grad_(true);
  zb.requires_grad_(true);
  t.requires_grad_(true);
  auto loss = contrastive_loss(za, zb, t, nullptr);
  loss.backward();
  CHECK(close(loss.detach().reshape({1}), load(d.path, "loss"), 1e-5, 1e-6));
  CHECK(close(za.grad(), load(d.path, "dza"), 1e-4, 1e-6));
  CHECK(close(zb.grad(), load(d.path, "dzb"), 1e-4, 1e-6));
  CHECK(close(t.grad(), load(d.path, "dt"), 1e-4, 1e-6));
  // Perfectly matched, well separated pairs give a loss near zero.
  auto eye = torch::eye(4);
  auto hot = contrastive_loss(eye, eye, torch::full({1}, std::log(100.0f)), nullptr);
  CHECK(hot.item<double>() < 1e-10 + 4 * std::exp(-100.0) * 4);
}

TEST_CASE("Adafactor factors the two largest axes as optax does", "[train]") {
  CHECK(factored_dims({768, 3072}, 32) == std::pair<int64_t, int64_t>{0, 1});
  CHECK(factored_dims({3072, 768}, 32) == std::pair<int64_t, int64_t>{1, 0});
  CHECK(factored_dims({768, 12, 64}, 32) == std::pair<int64_t, int64_t>{2, 0});
  CHECK(factored_dims({768, 768}, 32) == std::pair<int64_t, int64_t>{0, 1});  // ties: the later axis is the largest
  CHECK(factored_dims({16, 16, 3, 768}, 32).first == -1);                     // second largest < 32
  CHECK(factored_dims({768}, 32).first == -1);
}

// Parameters of several shapes and roles, with `steps` gradients each, saved
// for train_ref.py; the schedule values too.
struct OptimProblem {
  static constexpr int steps = 6;
  std::vector<ParamSpec> specs;
  std::vector<std::vector<torch::Tensor>> grads = std::vector<std::vector<torch::Tensor>>(steps);
  std::vector<double> sched;

  explicit OptimProblem(const fs::path& dir) {
    torch::manual_seed(7);
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
        {"a/kernel", {64, 48}}, {"b/kernel", {40, 3, 36}}, {"c/bias", {48}}, {"d/kernel", {8, 40}}, {"t", {1}},
        {"e/scale", {33, 32}}};
    for (auto& [name, shape] : shapes) {
      auto p = torch::randn(shape);
      save(dir, "p_" + file(name), p);
      specs.push_back(param_spec(name, p.clone()));
      for (int k = 0; k < steps; ++k) {
        // Large gradients in even steps, so the global-norm clip acts in some steps only.
        auto g = torch::randn(shape) * (k % 2 == 0 ? 1.0 : 0.01);
        save(dir, fmt::format("g_{}_{}", file(name), k), g);
        grads[k].push_back(g);
      }
    }
    for (int k = 0; k < steps; ++k) sched.push_back(0.5 + 0.1 * k);
    save64(dir, "sched", sched);
  }
  static std::string file(std::string name) {
    std::replace(name.begin(), name.end(), '/', '-');
    return name;
  }
  void run(Optimizer& opt) {
    for (int k = 0; k < steps; ++k) {
      for (size_t i = 0; i < specs.size(); ++i) specs[i].param.mutable_grad() = grads[k][i].clone();
      opt.step(sched[k]);
    }
  }
};

TEST_CASE("Adafactor, clipping, weight decay and momentum match numpy over several steps", "[train]") {
  TempDir d("adafactor");
  OptimProblem problem(d.path);
  auto& specs = problem.specs;
  const int steps = OptimProblem::steps;
  CHECK(specs[0].decay);
  CHECK(!specs[2].decay);
  CHECK(!specs[4].decay);
  OptimConfig cfg;
  cfg.lr = 0.01;
  cfg.wd = 0.1;
  cfg.clip_norm = 1.0;
  save64(d.path, "hp", {cfg.lr, cfg.wd, cfg.clip_norm, cfg.momentum, cfg.decay_rate, cfg.beta2_cap, cfg.eps,
                        static_cast<double>(cfg.min_dim_size_to_factor), static_cast<double>(steps)});
  run_ref("adafactor", d.path);
  Optimizer opt(cfg, specs);
  problem.run(opt);
  CHECK(opt.count() == steps);
  auto state = opt.state();
  for (auto& s : specs) {
    const std::string file = OptimProblem::file(s.name);
    INFO(s.name);
    CHECK(close(s.param, load(d.path, "out_p_" + file), 1e-5, 1e-6));
    auto [d1, d0] = factored_dims(s.param.sizes().vec(), 32);
    if (d0 >= 0) {
      CHECK(close(state.at("opt/v_row/" + s.name), load(d.path, "out_vr_" + file), 1e-5, 1e-12));
      CHECK(close(state.at("opt/v_col/" + s.name), load(d.path, "out_vc_" + file), 1e-5, 1e-12));
    } else {
      CHECK(close(state.at("opt/v/" + s.name), load(d.path, "out_v_" + file), 1e-5, 1e-12));
    }
    auto mu = state.at("opt/mu/" + s.name);
    CHECK(mu.scalar_type() == torch::kBFloat16);
    // bf16 state: allow one bf16 ulp where float rounding upstream tips a tie.
    CHECK(close(mu, load(d.path, "out_mu_" + file), 8e-3, 1e-6));
  }
  // A restored optimizer continues identically.
  Optimizer again(cfg, specs);
  again.load_state(state);
  CHECK(again.count() == steps);
}

TEST_CASE("AdamW (beta1 from --momentum), clipping and big_vision's weight decay match numpy", "[train]") {
  TempDir d("adamw");
  OptimProblem problem(d.path);
  OptimConfig cfg;
  cfg.name = "adamw";
  cfg.lr = 0.01;
  cfg.wd = 0.1;
  cfg.momentum = 0.8;
  save64(d.path, "hp", {cfg.lr, cfg.wd, cfg.clip_norm, cfg.momentum, static_cast<double>(OptimProblem::steps)});
  run_ref("adamw", d.path);
  Optimizer opt(cfg, problem.specs);
  problem.run(opt);
  auto state = opt.state();
  for (auto& s : problem.specs) {
    const std::string file = OptimProblem::file(s.name);
    INFO(s.name);
    CHECK(close(s.param, load(d.path, "out_p_" + file), 1e-5, 1e-6));
    CHECK(close(state.at("opt/mu/" + s.name), load(d.path, "out_m_" + file), 1e-5, 1e-9));
    CHECK(close(state.at("opt/nu/" + s.name), load(d.path, "out_v_" + file), 1e-5, 1e-12));
  }
}

TEST_CASE("an optimizer step with a gradient that is not finite changes nothing", "[train]") {
  for (const char* name : {"adafactor", "adamw"}) {
    INFO(name);
    OptimConfig cfg;
    cfg.name = name;
    cfg.wd = 0.1;
    auto a = torch::randn({40, 48}), b = torch::randn({48});
    std::vector<ParamSpec> specs{param_spec("a/kernel", a.clone()), param_spec("b/bias", b.clone())};
    Optimizer opt(cfg, specs);
    specs[0].param.mutable_grad() = torch::randn({40, 48});
    specs[1].param.mutable_grad() = torch::randn({48});
    specs[1].param.mutable_grad()[3] = std::numeric_limits<float>::infinity();
    std::map<std::string, torch::Tensor> before;
    for (auto& [key, value] : opt.state()) before[key] = value.clone();  // (on the CPU, state() aliases)
    CHECK(!std::isfinite(opt.step(1.0)));
    CHECK(opt.count() == 0);
    CHECK(torch::equal(specs[0].param, a));  // the finite gradient was not applied either
    CHECK(torch::equal(specs[1].param, b));
    for (auto& [key, value] : opt.state()) CHECK(torch::equal(value, before.at(key)));
    // A finite one then is.
    specs[1].param.mutable_grad()[3] = 0.5f;
    CHECK(std::isfinite(opt.step(1.0)));
    CHECK(opt.count() == 1);
    CHECK(!torch::equal(specs[0].param, a));
  }
}

TEST_CASE("schedules match big_vision's formulas", "[train]") {
  struct Case {
    std::string type;
    int kind;
    int64_t total, warm, cool;
    double timescale, end;
  };
  for (auto c : {Case{"rsqrt", 0, 100, 10, 20, 30, 0}, Case{"rsqrt", 0, 50, 0, 0, 10000, 0},
                 Case{"linear", 1, 80, 8, 0, 0, 0.1}, Case{"cosine", 2, 60, 5, 10, 0, 0},
                 Case{"constant", 3, 40, 4, 4, 0, 0}}) {
    TempDir d("sched");
    save64(d.path, "spec", {double(c.kind), double(c.total), double(c.warm), double(c.cool), c.timescale, c.end});
    run_ref("schedule", d.path);
    auto want = load(d.path, "values");
    Schedule s;
    s.type = c.type, s.total_steps = c.total, s.warmup_steps = c.warm, s.cooldown_steps = c.cool;
    s.timescale = c.timescale, s.linear_end = c.end;
    s.validate();
    INFO(c.type);
    for (int64_t k = 0; k <= c.total; ++k) CHECK(s(k) == Approx(want[k].item<double>()).margin(1e-6));
  }
  Schedule bad;
  bad.type = "exponential";
  CHECK_THROWS_AS(bad.validate(), clippo::UsageError);
  // A decay that would start only after the last step leaves a rate of 0 throughout.
  for (const char* type : {"cosine", "linear", "constant", "rsqrt"}) {
    Schedule s;
    s.type = type, s.total_steps = 10, s.warmup_steps = 10;
    INFO(type);
    if (s.type == "cosine" || s.type == "linear") {
      CHECK_THROWS_WITH(s.validate(), Catch::Contains("every step's learning rate would be 0"));
      s.warmup_steps = 9;
      s.validate();
      CHECK(s(9) == Approx(1.0));
    } else {
      s.validate();
      CHECK(s(9) == Approx(0.9));
    }
  }
}

TEST_CASE("a few steps on a tiny model reduce the loss on a fixed batch", "[train]") {
  torch::manual_seed(0);
  auto mc = model::ModelConfig::from_variant("mu/4", 16, 16);
  model::OneTower net(mc);
  net->reset_parameters(1);
  std::vector<ParamSpec> specs;
  for (auto& item : net->named_parameters(false)) specs.push_back(param_spec(item.key(), item.value()));
  OptimConfig cfg;
  cfg.lr = 3e-3;
  Optimizer opt(cfg, specs);
  auto x = torch::rand({2 * 16, 3, 16, 16}) * 2 - 1;
  double first = 0, last = 0;
  for (int k = 0; k < 40; ++k) {
    auto z = net->forward(x).z;
    auto loss = contrastive_loss(z.slice(0, 0, 16), z.slice(0, 16, 32), net->t, nullptr);
    net->zero_grad();
    loss.backward();
    opt.step(1.0);
    (k == 0 ? first : last) = loss.item<double>();
  }
  INFO("first " << first << " last " << last);
  CHECK(last < 0.5 * first);
}

TEST_CASE("gradient checkpointing gives the gradients of the plain backward pass", "[train]") {
  // In float32 and under bf16 autocast, as clippo-train runs them: the
  // recompute (on a GPU in autograd's thread) must use the forward pass's
  // autocast setting (bf16 against float32 activations would differ by ~1e-2
  // of the gradient).
  std::vector<torch::Device> devices{torch::kCPU};
  if (torch::cuda::is_available()) devices.emplace_back(torch::kCUDA);
  for (const auto& dev : devices)
    for (bool bf16 : {false, true})
      for (std::string pool : {"map", "tok"}) {
        auto mc = model::ModelConfig::from_variant("mu/8", 32, 24);
        mc.depth = 3, mc.pool = pool;
        model::OneTower net(mc);
        net->reset_parameters(7);
        net->to(dev);
        torch::manual_seed(3);
        auto x = (torch::rand({2 * 6, 3, 32, 32}) * 2 - 1).to(dev);
        auto grads = [&](bool checkpointing) {
          net->set_grad_checkpointing(checkpointing);
          torch::Tensor z;
          {
            model::AutocastScope autocast(dev.type(), bf16);
            z = net->forward(x).z;
          }
          auto loss = contrastive_loss(z.slice(0, 0, 6).to(torch::kFloat), z.slice(0, 6, 12).to(torch::kFloat), net->t,
                                     nullptr);
          net->zero_grad();
          loss.backward();
          // The recompute (on this thread on the CPU) left its settings as
          // they were: autocast off, the cast cache on.
          CHECK_FALSE(model::autocast_state(dev.type()).enabled);
          CHECK(at::autocast::is_autocast_cache_enabled());
          std::map<std::string, torch::Tensor> g;
          for (auto& item : net->named_parameters(false)) g[item.key()] = item.value().grad().to(torch::kCPU).clone();
          return g;
        };
        auto plain = grads(false), recomputed = grads(true);
        REQUIRE(plain.size() == recomputed.size());
        double largest = 0;
        for (auto& [name, g] : plain) largest = std::max(largest, g.abs().max().item<double>());
        for (auto& [name, g] : plain) {
          // Same maths in another order (the no-grad forward takes fused kernels):
          // equal to rounding, relative to the gradient's scale (the key bias's
          // gradient is zero in exact arithmetic: rounding noise only).
          double diff = (recomputed[name] - g).abs().max().item<double>(), scale = g.abs().max().item<double>();
          INFO(dev << (bf16 ? " bf16 " : " fp32 ") << pool << " " << name << ": max difference " << diff
                   << ", max gradient " << scale);
          CHECK(scale > 0);  // every parameter takes part
          CHECK(diff <= (bf16 ? 1e-3 : 1e-4) * scale + 1e-6 * largest);
        }
      }
}

#include "clippo/io/record_writer.h"
#include "clippo/train/data.h"

TEST_CASE("ranks read each record once per epoch and draw equal shares, shards dealt out or split by record",
          "[train]") {
  TempDir dir("ranks");
  // 2 shards on 3 ranks: every rank reads both; 5: one each, and the 2 left over split.
  for (int nfiles : {2, 5}) {
    std::vector<std::string> files;
    for (int f = 0; f < nfiles; ++f) {
      files.push_back((dir.path / fmt::format("n{}s{}.shard", nfiles, f)).string());
      RecordWriter w(files.back(), {});
      for (int i = 0; i < 12; ++i) w.write(Record{fmt::format("f{}r{:02d}", f, i), {{"txt", "x"}}});
      w.close();
    }
    const int share = 12 * nfiles / 3;
    for (uint64_t seed = 0; seed < 4; ++seed) {
      std::multiset<std::string> seen;
      for (int rank = 0; rank < 3; ++rank) {
        RecordStream stream(files, rank, 3, /*shuffle_buffer=*/5, seed, OnError::fail);
        Record r;
        for (int i = 0; i < share; ++i) {
          stream.next(r);
          seen.insert(r.key);
        }
        INFO(nfiles << " shards, seed " << seed << ", rank " << rank);
        CHECK(stream.position().epoch == 0);
        stream.next(r);
        CHECK(stream.position().epoch == 1);  // its share was the whole of its epoch
      }
      CHECK(seen.size() == static_cast<size_t>(12 * nfiles));
      CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == seen.size());  // none twice, so none missed
    }
  }
}
