// Splitting plain text into paragraphs, sentences and words, for chunking documents and for the
// offline query generators. Whitespace is ASCII whitespace; sentences end at . ! ? followed by
// whitespace, or at a line break.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace memembed::tune {

std::vector<std::string> split_paragraphs(std::string_view text);  // blank-line separated, trimmed, non-empty
std::vector<std::string> split_sentences(std::string_view text);   // trimmed, non-empty
std::vector<std::string> split_words(std::string_view text);
size_t count_words(std::string_view text);
std::string join_words(const std::vector<std::string>& words, size_t begin, size_t end);

// A dialogue turn as LoCoMo-style logs write it: "[<time>] <Speaker>: <words>".
bool is_dialogue_turn(std::string_view text);
// The words of a turn without its "[<time>] <Speaker>:" header (the text itself when it has none).
std::string turn_content(std::string_view text);

}  // namespace memembed::tune
