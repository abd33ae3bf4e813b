// The character classes Hugging Face tokenizers takes from older Unicode tables: the
// `unicode_categories` crate (BERT clean_text, strip_accents, punctuation splitting) and the
// combining-mark test of its Unicode normalisation crate (the StripAccents normalizer).
//
// Those tables predate Unicode 10: characters added or recategorised since (newer format
// characters, punctuation and marks) are classified as they were then, and StripAccents removes
// every combining mark (Mn, Mc and Me, so Devanagari and Khmer vowel signs too) where the BERT
// normaliser removes only Mn. Reproducing Hugging Face's ids needs that view, not today's.
//
// The ranges in legacy_categories.cpp were measured from Hugging Face tokenizers 0.23 itself: every
// code point was passed through StripAccents, BertNormalizer and BertPreTokenizer.
#pragma once

namespace memembed::text::legacy {

bool is_nonspacing_mark(char32_t c);  // removed by BertNormalizer's strip_accents (after NFD)
bool is_combining_mark(char32_t c);   // removed by the StripAccents normalizer
bool is_control(char32_t c);          // Cc, Cf and Co, as the crate classifies them
bool is_bert_punctuation(char32_t c);  // ASCII punctuation, or punctuation (P*) as the crate classifies it

}  // namespace memembed::text::legacy
