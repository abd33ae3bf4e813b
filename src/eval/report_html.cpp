#include "report_html.h"

#include "aggregation.h"
#include "task_layout.h"

#include "memembed/memory_type.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

namespace memembed::eval {

namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

struct Bar {
  std::string label;
  double value = 0;  // x100
  bool ours = false;
};

// Horizontal bar chart, bars sorted by value; ours in blue, published in grey.
std::string bar_chart(const std::string& title, std::vector<Bar> bars) {
  std::stable_sort(bars.begin(), bars.end(), [](const Bar& a, const Bar& b) { return a.value > b.value; });
  const int label_width = 250, chart_width = 300, row = 18, top = 24;
  const int height = top + row * static_cast<int>(bars.size()) + 8;
  double max_value = 1.0;
  for (const Bar& b : bars) max_value = std::max(max_value, b.value);
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" "
      "aria-label=\"{}\">\n<text x=\"0\" y=\"15\" class=\"title\">{}</text>\n",
      label_width + chart_width + 60, height, escape(title), escape(title));
  for (size_t i = 0; i < bars.size(); ++i) {
    const int y = top + row * static_cast<int>(i);
    const double w = chart_width * bars[i].value / max_value;
    svg += fmt::format(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"{}\">{}</text>"
        "<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"/>"
        "<text x=\"{:.1f}\" y=\"{}\" class=\"value\">{:.2f}</text>\n",
        label_width - 6, y + 13, bars[i].ours ? "ours" : "label", escape(bars[i].label), label_width,
        y + 2, w, row - 4, bars[i].ours ? "#2563eb" : "#9ca3af", label_width + w + 4, y + 13,
        bars[i].value);
  }
  svg += "</svg>\n";
  return svg;
}

// Grouped bars per dataset: instructions off vs on for one model.
std::string instruction_chart(const ModelRun& run) {
  const Aggregate off = aggregate(run.subsets, "off", "ndcg_at_10");
  const Aggregate on = aggregate(run.subsets, "on", "ndcg_at_10");
  if (off.empty() || on.empty()) return "";
  std::vector<std::pair<std::string, std::pair<std::optional<double>, std::optional<double>>>> rows;
  for (const auto& d : off.datasets) rows.push_back({d.dataset, {d.value, std::nullopt}});
  for (const auto& d : on.datasets) {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.first == d.dataset; });
    if (it == rows.end()) rows.push_back({d.dataset, {std::nullopt, d.value}});
    else it->second.second = d.value;
  }
  const int label_width = 180, chart_width = 320, group = 30, top = 24;
  const int height = top + group * static_cast<int>(rows.size()) + 30;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" "
      "aria-label=\"instructions off vs on\">\n<text x=\"0\" y=\"15\" class=\"title\">{}: NDCG@10 "
      "per dataset, instructions off (light) vs on (dark)</text>\n",
      label_width + chart_width + 60, height, escape(run.model_name));
  for (size_t i = 0; i < rows.size(); ++i) {
    const int y = top + group * static_cast<int>(i);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"label\">{}</text>\n",
                       label_width - 6, y + 16, escape(rows[i].first));
    const std::optional<double> values[2] = {rows[i].second.first, rows[i].second.second};
    for (int k = 0; k < 2; ++k) {
      if (!values[k]) continue;
      const double w = chart_width * *values[k];
      svg += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"12\" fill=\"{}\"/><text x=\"{:.1f}\" "
          "y=\"{}\" class=\"value\">{:.2f}</text>\n",
          label_width, y + 2 + 13 * k, w, k == 0 ? "#93c5fd" : "#1d4ed8", label_width + w + 4,
          y + 12 + 13 * k, 100.0 * *values[k]);
    }
  }
  svg += "</svg>\n";
  return svg;
}

std::string settings_label(const std::string& s) {
  return s == "on" ? "with instructions" : "without instructions";
}

}  // namespace

std::string report_html(const std::vector<ModelRun>& runs, const PublishedScores& published) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>memembed eval report</title>\n<style>\n"
      "body{font-family:system-ui,sans-serif;margin:2em;color:#111827;max-width:1100px}\n"
      "h1,h2,h3{font-weight:600}table{border-collapse:collapse;margin:1em 0}\n"
      "td,th{border:1px solid #d1d5db;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\n"
      "svg{display:block;margin:0.5em 0 1.5em 0}svg text{font-size:12px}svg .title{font-weight:600;font-size:13px}\n"
      "svg .ours{font-weight:700;fill:#1d4ed8}svg .value{fill:#374151}.note{color:#4b5563}\n"
      "</style>\n</head>\n<body>\n<h1>memembed eval report</h1>\n";
  html += "<p class=\"note\">NDCG@10 x100 (LMEB's main score). A dataset's score is the mean of "
          "its subsets, a memory type's the mean of its datasets (LMEB's summary). Published rows "
          "(grey) cover all 22 LMEB datasets; ours (blue) only the datasets evaluated, listed "
          "below.</p>\n<ul>\n";
  for (const ModelRun& run : runs) {
    html += fmt::format("<li><b>{}</b> (revision <code>{}</code>), {} subset results</li>\n",
                        escape(run.model_name), escape(run.model_revision), run.subsets.size());
  }
  html += fmt::format("</ul>\n<p class=\"note\">Published: {}</p>\n", escape(published.source));

  for (const std::string setting : {"off", "on"}) {
    std::vector<std::pair<const ModelRun*, Aggregate>> ours;
    for (const ModelRun& run : runs) {
      Aggregate a = aggregate(run.subsets, setting, "ndcg_at_10");
      if (!a.empty()) ours.emplace_back(&run, std::move(a));
    }
    if (ours.empty()) continue;
    html += fmt::format("<h2>By memory type, {}</h2>\n", settings_label(setting));
    std::vector<std::pair<std::string, std::string>> panels;  // memory type, published column
    for (const MemoryType type : kMemoryTypes) panels.emplace_back(lmeb_name(type), std::string(short_name(type)) + "_n10");
    panels.emplace_back("Mean (Type)", "meanType_n10");
    for (const auto& [type, column] : panels) {
      std::vector<Bar> bars;
      for (const auto& [run, a] : ours) {
        if (type == "Mean (Type)") {
          bars.push_back({run->model_name, 100.0 * a.mean_type, true});
          continue;
        }
        for (const auto& t : a.types) {
          if (t.memory_type == type) bars.push_back({run->model_name, 100.0 * t.value, true});
        }
      }
      if (bars.empty()) continue;
      for (const PublishedRow& row : published.rows) {
        if (row.setting != published_setting(setting)) continue;
        auto it = row.values.find(column);
        if (it != row.values.end()) bars.push_back({row.model, it->second, false});
      }
      const std::string category = agent_memory_category(type);
      html += bar_chart(category.empty() ? type : fmt::format("{} ({})", type, category), bars);
    }
  }

  for (const ModelRun& run : runs) html += instruction_chart(run);

  html += "<h2>Per dataset</h2>\n";
  for (const ModelRun& run : runs) {
    html += fmt::format("<h3>{}</h3>\n<table><tr><th>dataset</th><th>memory type</th>"
                        "<th>subsets</th><th>off</th><th>on</th></tr>\n",
                        escape(run.model_name));
    const Aggregate off = aggregate(run.subsets, "off", "ndcg_at_10");
    const Aggregate on = aggregate(run.subsets, "on", "ndcg_at_10");
    std::map<std::pair<std::string, std::string>, std::pair<std::string, std::string>> cells;
    std::map<std::pair<std::string, std::string>, size_t> counts;
    for (const auto& d : off.datasets) {
      cells[{d.memory_type, d.dataset}].first = fmt::format("{:.2f}", 100 * d.value);
      counts[{d.memory_type, d.dataset}] = d.subsets;
    }
    for (const auto& d : on.datasets) {
      cells[{d.memory_type, d.dataset}].second = fmt::format("{:.2f}", 100 * d.value);
      counts[{d.memory_type, d.dataset}] = std::max(counts[{d.memory_type, d.dataset}], d.subsets);
    }
    std::vector<std::pair<std::string, std::string>> keys;
    for (const auto& [k, v] : cells) keys.push_back(k);
    std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
      if (a.first != b.first) return memory_type_before(a.first, b.first);
      return a.second < b.second;
    });
    for (const auto& k : keys) {
      const auto& c = cells[k];
      html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                          escape(k.second), escape(k.first), counts[k],
                          c.first.empty() ? "-" : c.first, c.second.empty() ? "-" : c.second);
    }
    html += "</table>\n";
  }
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace memembed::eval
