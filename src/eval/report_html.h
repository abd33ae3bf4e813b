// report.html: one self-contained page (inline CSS and SVG, no scripts, no external assets)
// comparing the user's models per memory type, with and without instructions, beside the
// published LMEB rows.
#pragma once

#include "published_scores.h"
#include "summary_table.h"

#include <string>
#include <vector>

namespace memembed::eval {

std::string report_html(const std::vector<ModelRun>& runs, const PublishedScores& published);

}  // namespace memembed::eval
