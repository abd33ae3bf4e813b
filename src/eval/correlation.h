// Pearson and Spearman correlation, as the LMEB paper correlates LMEB with MTEB scores.
// Spearman is Pearson on ranks, tied values sharing the average of their ranks (scipy's default).
#pragma once

#include <vector>

namespace memembed::eval {

// Throws InvalidInput when the sizes differ, fewer than 2 pairs are given, or a side is constant.
double pearson(const std::vector<double>& x, const std::vector<double>& y);
double spearman(const std::vector<double>& x, const std::vector<double>& y);

// 1-based ranks, ties averaged ([10, 20, 20, 30] -> [1, 2.5, 2.5, 4]).
std::vector<double> average_ranks(const std::vector<double>& values);

}  // namespace memembed::eval
