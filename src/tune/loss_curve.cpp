#include "loss_curve.h"

#include "memembed/json_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace memembed::tune {

namespace {

constexpr double kWidth = 720, kHeight = 360, kLeft = 60, kRight = 20, kTop = 30, kBottom = 40;

std::string polyline(const std::vector<std::pair<double, double>>& points, double max_step, double low, double high,
                     const char* colour, double width) {
  std::string coordinates;
  for (const auto& [step, loss] : points) {
    const double x = kLeft + (kWidth - kLeft - kRight) * (max_step > 1 ? (step - 1) / (max_step - 1) : 0.5);
    const double y = kTop + (kHeight - kTop - kBottom) * (high > low ? (high - loss) / (high - low) : 0.5);
    coordinates += fmt::format("{:.1f},{:.1f} ", x, y);
  }
  return fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" points=\"{}\"/>\n", colour, width,
                     coordinates);
}

}  // namespace

void write_loss_curve(const std::filesystem::path& log, const std::filesystem::path& svg) {
  std::vector<std::pair<double, double>> points;
  if (std::filesystem::exists(log)) {
    for_each_jsonl(log, [&](const Json& record, size_t) {
      if (record.contains("step") && record.contains("loss")) {
        points.emplace_back(record["step"].get<double>(), record["loss"].get<double>());
      }
    });
  }
  std::string body;
  double low = 0, high = 1, max_step = 1;
  if (!points.empty()) {
    low = high = points.front().second;
    for (const auto& [step, loss] : points) {
      low = std::min(low, loss);
      high = std::max(high, loss);
      max_step = std::max(max_step, step);
    }
    const size_t window = std::max<size_t>(1, points.size() / 20);
    std::vector<std::pair<double, double>> smoothed;
    double sum = 0;
    for (size_t i = 0; i < points.size(); ++i) {
      sum += points[i].second;
      if (i >= window) sum -= points[i - window].second;
      smoothed.emplace_back(points[i].first, sum / static_cast<double>(std::min(i + 1, window)));
    }
    body += polyline(points, max_step, low, high, "#9ecae1", 1);
    body += polyline(smoothed, max_step, low, high, "#08519c", 2);
  }
  std::string svg_text = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"18\">training loss (InfoNCE) per step; dark: moving average</text>\n"
      "<line x1=\"{2}\" y1=\"{3}\" x2=\"{2}\" y2=\"{4}\" stroke=\"black\"/>\n"
      "<line x1=\"{2}\" y1=\"{4}\" x2=\"{5}\" y2=\"{4}\" stroke=\"black\"/>\n"
      "<text x=\"4\" y=\"{3}\">{6:.3f}</text>\n<text x=\"4\" y=\"{4}\">{7:.3f}</text>\n"
      "<text x=\"{2}\" y=\"{8}\">1</text>\n<text x=\"{9}\" y=\"{8}\" text-anchor=\"end\">step {10:.0f}</text>\n",
      kWidth, kHeight, kLeft, kTop, kHeight - kBottom, kWidth - kRight, high, low, kHeight - kBottom + 16,
      kWidth - kRight, max_step);
  svg_text += body + "</svg>\n";
  open_for_write(svg) << svg_text;
}

}  // namespace memembed::tune
