#include "clippo/train/optim.h"

#include <ATen/Parallel.h>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "clippo/cli/error.h"

namespace clippo::train {

ParamSpec param_spec(std::string name, torch::Tensor param) {
  ParamSpec s;
  s.decay = name.ends_with("/kernel");
  s.name = std::move(name);
  s.param = std::move(param);
  return s;
}

void OptimConfig::validate() const {
  if (name != "adafactor" && name != "adamw")
    throw UsageError(fmt::format("--optimizer {}: expected adafactor or adamw", name));
  for (auto [option, value] : {std::pair{"lr", lr}, {"wd", wd}, {"grad-clip", clip_norm}})
    if (!(value >= 0 && std::isfinite(value)))
      throw UsageError(fmt::format("--{} {}: must be a number >= 0", option, value));
  if (!(momentum >= 0 && momentum < 1)) throw UsageError(fmt::format("--momentum {}: must be in [0, 1)", momentum));
  // Kernels are scaled by 1 - wd x schedule (up to 1) each step: 1 zeroes them.
  if (!(wd < 1)) throw UsageError(fmt::format("--wd {}: must be below 1 (each step scales kernels by 1 - WD at the peak rate)", wd));
}

double clip_global_norm(const std::vector<torch::Tensor>& grads, double max_norm) {
  torch::NoGradGuard ng;
  // Summed where the gradients are: one read back (a GPU sync), not one each.
  torch::Tensor sq;
  for (auto& g : grads)
    if (g.defined()) {
      auto s = g.square().sum(torch::kFloat64);
      sq = sq.defined() ? sq + s : s;
    }
  const double norm = sq.defined() ? std::sqrt(sq.item<double>()) : 0.0;
  // optax: g if norm < max else g / norm * max.
  if (max_norm > 0 && !(norm < max_norm) && norm > 0)
    for (auto& g : grads)
      if (g.defined()) g.mul_(max_norm / norm);
  return norm;
}

std::pair<int64_t, int64_t> factored_dims(const std::vector<int64_t>& shape, int64_t min_dim) {
  if (shape.size() < 2) return {-1, -1};
  std::vector<int64_t> order(shape.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return shape[a] < shape[b]; });
  int64_t d1 = order[order.size() - 2], d0 = order.back();
  if (shape[d1] < min_dim) return {-1, -1};
  return {d1, d0};
}

Optimizer::Optimizer(OptimConfig cfg, std::vector<ParamSpec> params) : cfg_(std::move(cfg)), params_(std::move(params)) {
  cfg_.validate();
  // JAX turns the Python-float decay into bfloat16 (0.9 -> 0.8984375).
  momentum_bf16_ = torch::tensor({static_cast<float>(cfg_.momentum)}).to(torch::kBFloat16).to(torch::kFloat32).item<float>();
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  for (auto& p : params_) {
    auto dev = f32.device(p.param.device());
    const auto s = p.param.sizes().vec();
    if (cfg_.name == "adafactor") {
      auto [d1, d0] = factored_dims(s, cfg_.min_dim_size_to_factor);
      if (d0 >= 0) {
        auto vr = s, vc = s;
        vr.erase(vr.begin() + d0);
        vc.erase(vc.begin() + d1);
        v_row_.push_back(torch::zeros(vr, dev));
        v_col_.push_back(torch::zeros(vc, dev));
        v_.push_back(torch::Tensor());
      } else {
        v_row_.push_back(torch::Tensor());
        v_col_.push_back(torch::Tensor());
        v_.push_back(torch::zeros(s, dev));
      }
      mu_.push_back(cfg_.momentum > 0 ? torch::zeros(s, dev.dtype(torch::kBFloat16)) : torch::Tensor());
      nu_.push_back(torch::Tensor());
    } else {
      mu_.push_back(torch::zeros(s, dev));
      nu_.push_back(torch::zeros(s, dev));
      v_row_.push_back(torch::Tensor());
      v_col_.push_back(torch::Tensor());
      v_.push_back(torch::Tensor());
    }
  }
}

torch::Tensor Optimizer::adafactor(size_t i, const torch::Tensor& g) {
  const double t = static_cast<double>(count_) + 1.0;
  const float beta2 = static_cast<float>(std::min(cfg_.beta2_cap, 1.0 - std::pow(t, -cfg_.decay_rate)));
  torch::Tensor gs = g * g + static_cast<float>(cfg_.eps);
  torch::Tensor u;
  auto [d1, d0] = factored_dims(params_[i].param.sizes().vec(), cfg_.min_dim_size_to_factor);
  if (d0 >= 0) {
    auto& vr = v_row_[i];
    auto& vc = v_col_[i];
    vr.mul_(beta2).add_(gs.mean(d0), 1.0f - beta2);
    vc.mul_(beta2).add_(gs.mean(d1), 1.0f - beta2);
    int64_t reduced_d1 = d1 > d0 ? d1 - 1 : d1;
    auto row_factor = (vr / vr.mean(reduced_d1, /*keepdim=*/true)).rsqrt();
    auto col_factor = vc.rsqrt();
    u = g * row_factor.unsqueeze(d0) * col_factor.unsqueeze(d1);
  } else {
    v_[i].mul_(beta2).add_(gs, 1.0f - beta2);
    u = g * v_[i].rsqrt();
  }
  if (cfg_.momentum > 0) {
    // optax.ema(debias=False) with a bfloat16 accumulator: decay * m is a
    // bf16 product, the sum is float32 and is what this step applies. The
    // product of two bf16 values is exact in f32, so one rounding remains.
    auto decayed = (mu_[i].to(torch::kFloat32) * momentum_bf16_).to(torch::kBFloat16).to(torch::kFloat32);
    u = u * static_cast<float>(1.0 - cfg_.momentum) + decayed;
    mu_[i].copy_(u);
  }
  return u;
}

torch::Tensor Optimizer::adam(size_t i, const torch::Tensor& g) {
  const double t = static_cast<double>(count_) + 1.0;
  const double b1 = cfg_.momentum;
  mu_[i].mul_(b1).add_(g, 1.0 - b1);
  nu_[i].mul_(cfg_.b2).addcmul_(g, g, 1.0 - cfg_.b2);
  auto mhat = mu_[i] / (1.0 - std::pow(b1, t));
  auto vhat = nu_[i] / (1.0 - std::pow(cfg_.b2, t));
  return mhat / (vhat.sqrt() + cfg_.adam_eps);
}

void Optimizer::update(size_t i, const torch::Tensor& g, double sched) {
  torch::Tensor u = cfg_.name == "adafactor" ? adafactor(i, g.to(torch::kFloat32)) : adam(i, g.to(torch::kFloat32));
  // theta - sched * (lr * u + wd * theta), in place: the decay first (it
  // reads theta before the update), then the step.
  torch::Tensor theta = params_[i].param.detach();
  if (params_[i].decay && cfg_.wd > 0) theta.mul_(1.0f - static_cast<float>(sched) * static_cast<float>(cfg_.wd));
  theta.add_(u.to(theta.dtype()), -static_cast<float>(sched) * static_cast<float>(cfg_.lr));
}

double Optimizer::step(double sched) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (auto& p : params_) {
    auto g = p.param.grad();
    grads.push_back(g.defined() ? g : torch::zeros_like(p.param));
  }
  const double norm = clip_global_norm(grads, cfg_.clip_norm);
  if (!std::isfinite(norm)) return norm;
  // On CPU a tensor under 256k values is updated on one thread: threading
  // each of its many small elementwise ops cost more in synchronisation than
  // it saved (Ti/16, all under, on 2 cores in bf16: 0.12 s a step against
  // 0.05 s); larger ones (B/16's kernels) still gain from threads. The small
  // ones go first, all of them, as switching is not free either.
  const int threads = at::get_num_threads();
  auto small = [](const ParamSpec& p) { return p.param.is_cpu() && p.param.numel() < (1 << 18); };
  if (threads > 1) {
    struct RestoreThreads {
      int n;
      ~RestoreThreads() { at::set_num_threads(n); }
    } restore{threads};
    at::set_num_threads(1);
    for (size_t i = 0; i < params_.size(); ++i)
      if (small(params_[i])) update(i, grads[i], sched);
  }
  for (size_t i = 0; i < params_.size(); ++i)
    if (threads == 1 || !small(params_[i])) update(i, grads[i], sched);
  ++count_;
  return norm;
}

std::map<std::string, torch::Tensor> Optimizer::state() const {
  std::map<std::string, torch::Tensor> out;
  out["opt/count"] = torch::tensor({static_cast<double>(count_)}, torch::kFloat64);
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& n = params_[i].name;
    if (v_row_[i].defined()) out["opt/v_row/" + n] = v_row_[i].cpu();
    if (v_col_[i].defined()) out["opt/v_col/" + n] = v_col_[i].cpu();
    if (v_[i].defined()) out["opt/v/" + n] = v_[i].cpu();
    if (mu_[i].defined()) out["opt/mu/" + n] = mu_[i].cpu();
    if (nu_[i].defined()) out["opt/nu/" + n] = nu_[i].cpu();
  }
  return out;
}

void Optimizer::load_state(const std::map<std::string, torch::Tensor>& a) {
  torch::NoGradGuard ng;
  auto restore = [&](const std::string& key, torch::Tensor& dst) {
    if (!dst.defined()) return;
    auto it = a.find(key);
    if (it == a.end()) throw Error(fmt::format("no optimizer state {}", key));
    if (it->second.sizes() != dst.sizes())
      throw Error(fmt::format("optimizer state {} has shape {}, this model needs {}", key, it->second.sizes().vec(),
                              dst.sizes().vec()));
    dst.copy_(it->second.to(dst.dtype()));
  };
  auto it = a.find("opt/count");
  if (it == a.end()) throw Error("no optimizer state opt/count");
  count_ = static_cast<int64_t>(it->second.to(torch::kFloat64).item<double>());
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& n = params_[i].name;
    restore("opt/v_row/" + n, v_row_[i]);
    restore("opt/v_col/" + n, v_col_[i]);
    restore("opt/v/" + n, v_[i]);
    restore("opt/mu/" + n, mu_[i]);
    restore("opt/nu/" + n, nu_[i]);
  }
}

}  // namespace clippo::train
