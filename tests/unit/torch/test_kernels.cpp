// The hand-written CPU kernels (GELU and its gradient, residual update with
// LayerNorm), every variant this CPU runs, against torch in float64; the
// check for bf16 matmul instructions.
#include <fstream>
#include <sstream>
#include <string>

#include "test_model_fixture.h"

#include "clippo/cli/error.h"
#include "clippo/model/device.h"
#include "clippo/model/gelu.h"
#include "clippo/model/residual_norm.h"

using namespace clippo::model;

TEST_CASE("model: the GELU kernels and their gradient match torch::gelu(tanh)", "[model]") {
  {
  torch::NoGradGuard ng;
  auto x = torch::cat({torch::linspace(-12, 12, 100001), torch::tensor({0.0f, -0.0f, 1e-8f, -1e-30f, 80.f, -80.f, 1e4f, -1e4f})});
  auto want = torch::gelu(x.to(torch::kDouble), "tanh");
  auto wb = torch::gelu(x.to(torch::kBFloat16).to(torch::kDouble), "tanh");
  // With a bias along the last dimension: rows of 37 (not a multiple of any vector width).
  auto xr = torch::randn({211, 37}) * 4, bias = torch::randn({37});
  auto want_r = torch::gelu((xr + bias).to(torch::kDouble), "tanh");
  auto xrb = xr.to(torch::kBFloat16);
  auto want_rb = torch::gelu(xrb.to(torch::kDouble) + bias.to(torch::kDouble), "tanh");
  auto kernels = gelu_kernels();
  CHECK(kernels.back() == "generic");
  for (const auto& k : kernels) {
    INFO("kernel " << k);
    auto got = gelu_tanh_with(k, x);
    CHECK((got.to(torch::kDouble) - want).abs().max().item<double>() < 2e-6);
    // bfloat16 in and out: within bf16 rounding of the exact value
    auto gb = gelu_tanh_with(k, x.to(torch::kBFloat16)).to(torch::kDouble);
    CHECK(((gb - wb).abs() <= wb.abs() * (1.0 / 128) + 1e-6).all().item<bool>());
    auto gr = gelu_tanh_with(k, xr, bias);
    CHECK((gr.to(torch::kDouble) - want_r).abs().max().item<double>() < 1e-5);
    auto grb = gelu_tanh_with(k, xrb, bias).to(torch::kDouble);
    CHECK(((grb - want_rb).abs() <= want_rb.abs() * (1.0 / 128) + 1e-6).all().item<bool>());
  }
  CHECK(gelu_tanh(x).equal(gelu_tanh_with(kernels.front(), x)));
  }
  // The gradient kernels, every variant, against torch's autograd in float64.
  {
    torch::manual_seed(5);
    auto xr = torch::randn({211, 37}) * 4, bias = torch::randn({37}), dy = torch::randn({211, 37});
    auto u = (xr.to(torch::kDouble) + bias.to(torch::kDouble)).requires_grad_();
    torch::gelu(u, "tanh").backward(dy.to(torch::kDouble));
    auto want_dx = u.grad();
    auto xb = xr.to(torch::kBFloat16), dyb = dy.to(torch::kBFloat16);
    auto ub = xb.to(torch::kDouble).requires_grad_();
    torch::gelu(ub, "tanh").backward(dyb.to(torch::kDouble));
    auto want_dxb = ub.grad();
    for (const auto& k : gelu_kernels()) {
      INFO("kernel " << k);
      auto dx = gelu_tanh_with(k, xr, bias, dy).to(torch::kDouble);
      CHECK((dx - want_dx).abs().max().item<double>() < 1e-5);
      auto dxb = gelu_tanh_with(k, xb, {}, dyb).to(torch::kDouble);  // bf16 in and out
      CHECK(((dxb - want_dxb).abs() <= want_dxb.abs() * (1.0 / 128) + 1e-5).all().item<bool>());
    }
    CHECK_THROWS_AS(gelu_tanh_with("generic", xr.to(torch::kDouble)), clippo::Error);
  }
  // Under autograd the kernels and their gradient: gradients reach x and the bias.
  auto y = torch::randn({6, 7}, torch::requires_grad());
  auto b = torch::randn({7}, torch::requires_grad());
  auto dyy = torch::randn({6, 7});
  clippo::model::gelu_tanh(y, b).backward(dyy);
  auto yd = (y.detach().to(torch::kDouble) + b.detach().to(torch::kDouble)).requires_grad_();
  torch::gelu(yd, "tanh").backward(dyy.to(torch::kDouble));
  REQUIRE(y.grad().defined());
  REQUIRE(b.grad().defined());
  CHECK((y.grad().to(torch::kDouble) - yd.grad()).abs().max().item<double>() < 1e-5);
  CHECK((b.grad().to(torch::kDouble) - yd.grad().sum(0)).abs().max().item<double>() < 1e-5);
  // A bfloat16 input with a float32 bias: the result stays bfloat16, as the
  // next matmul's kernel needs.
  auto yb = torch::randn({5, 7}).to(torch::kBFloat16).requires_grad_();
  auto gbf = clippo::model::gelu_tanh(yb, b);
  CHECK(gbf.scalar_type() == torch::kBFloat16);
  auto want = torch::gelu(yb.detach().to(torch::kDouble) + b.detach().to(torch::kDouble), "tanh");
  CHECK(((gbf.detach().to(torch::kDouble) - want).abs() <= want.abs() * (1.0 / 128) + 1e-6).all().item<bool>());
  // bfloat16 under autograd gives the no-grad values (bf16 training
  // recomputes checkpointed blocks with autograd on): the exact value rounded
  // once (libtorch 1.13's own bf16 kernel misses a third).
  torch::manual_seed(11);
  auto h = (torch::randn({64, 96}) * 3).to(torch::kBFloat16);
  torch::Tensor fast;
  {
    torch::NoGradGuard ng;
    fast = clippo::model::gelu_tanh(h);
  }
  auto tracked = clippo::model::gelu_tanh(h.clone().requires_grad_()).detach();
  CHECK(tracked.equal(fast));
  auto rounded = torch::gelu(h.to(torch::kDouble), "tanh").to(torch::kBFloat16);
  // Of 6,144, a rare near-tie in float32 at most; the negative tail aside
  // (|gelu| < 0.01, x < -2.4: float32 loses digits to cancellation in 1 + tanh).
  CHECK((tracked.ne(rounded) & rounded.abs().gt(1e-2)).sum().item<int64_t>() <= 6);
}

TEST_CASE("model: the residual + LayerNorm kernel matches torch", "[model]") {
  torch::NoGradGuard ng;
  auto dbl = [](const torch::Tensor& t) { return t.to(torch::kDouble); };
  for (int64_t d : {768, 37}) {  // vector-width multiple and not
    auto x0 = torch::randn({3, 5, d}) * 3 + 1, yf = torch::randn({3, 5, d}), bias = torch::randn({d});
    auto scale = torch::rand({d}) + 0.5, shift = torch::randn({d});
    for (const auto& k : gelu_kernels())
      for (auto ydt : {torch::kFloat, torch::kBFloat16})
        for (auto odt : {torch::kFloat, torch::kBFloat16})
          for (int variant = 0; variant < 3; ++variant) {  // y and bias, y alone, neither
            INFO("d " << d << " kernel " << k << " y " << ydt << " out " << odt << " variant " << variant);
            auto y = variant < 2 ? yf.to(ydt) : torch::Tensor();
            auto b = variant == 0 ? bias : torch::Tensor();
            auto want_x = dbl(x0);
            if (y.defined()) want_x = want_x + dbl(y);
            if (b.defined()) want_x = want_x + dbl(b);
            auto want = torch::layer_norm(want_x, {d}, dbl(scale), dbl(shift), 1e-6);
            auto x = x0.clone();
            auto got = add_layer_norm_with(k, x, y, b, scale, shift, odt);
            CHECK(got.scalar_type() == odt);
            CHECK((dbl(x) - want_x).abs().max().item<double>() < 1e-5);
            double tol = odt == torch::kBFloat16 ? 1.0 / 128 : 1e-5;
            CHECK(((dbl(got) - want).abs() <= want.abs() * tol + 1e-5).all().item<bool>());
          }
  }
}

TEST_CASE("model: the bf16 matmul check agrees with the kernel's CPU flags", "[model]") {
  // x86 Linux's /proc/cpuinfo names the instructions amx_bf16 and avx512_bf16
  // (other CPUs have no such flags line: then the answer is no).
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  bool has = false;
  while (std::getline(f, line))
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line);
      for (std::string w; words >> w;) has = has || w == "amx_bf16" || w == "avx512_bf16";
      break;
    }
  CHECK(clippo::model::cpu_has_bf16_matmul() == has);
}
