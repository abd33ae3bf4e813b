// Words and sentences of a text, for the self-supervised query generators.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace memembed::retrieval {

using Span = std::pair<size_t, size_t>;  // [begin, end) in words

constexpr size_t kMinSpanWords = 4;

std::vector<std::string> split_words(const std::string& text);  // at whitespace
std::string join_words(const std::vector<std::string>& words, size_t begin, size_t end);
// Sentences of at least kMinSpanWords words (ending at . ? ! or the end of the text).
std::vector<Span> sentences(const std::vector<std::string>& words);

}  // namespace memembed::retrieval
