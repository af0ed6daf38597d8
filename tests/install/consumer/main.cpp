// Quantizes a small matrix through the installed library and checks the round trip.
#include <qlinear/qlinear.h>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  std::vector<float> values(4 * 64);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::sin(static_cast<float>(i));
  const auto w = qlinear::Tensor::from_floats({4, 64}, qlinear::Dtype::float32, values);
  const auto q = qlinear::quantize(w, 64, 8);
  const auto w_hat = qlinear::dequantize(q.wq, q.scales, q.biases, 64, 8).to_floats();
  const float step = std::fabs(q.scales.to_floats()[0]);
  for (std::size_t i = 0; i < 64; ++i) {
    if (std::fabs(w_hat[i] - values[i]) > step) {
      std::printf("element %zu: %g vs %g\n", i, w_hat[i], values[i]);
      return 1;
    }
  }
  std::printf("consumer ok\n");
  return 0;
}
