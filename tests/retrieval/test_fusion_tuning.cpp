// Choosing the fusion weight: the self-supervised query generator and the conservative rule.
#include "memembed/error.h"
#include "memembed/retrieval.h"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <random>
#include <set>
#include <string>

namespace memembed::retrieval {

namespace {

// A dialogue-like corpus: `sessions` runs of 6 consecutive documents, each session about its own
// topic. A topic's words are drawn from its own vocabulary of 400 words, so two documents of one
// session share few words (BM25 sees little) while a model that knows the topics sees them all.
std::vector<std::string> session_corpus(size_t sessions) {
  std::mt19937_64 random(3);
  std::uniform_int_distribution<int> word(0, 399);
  std::vector<std::string> docs;
  for (size_t s = 0; s < sessions; ++s) {
    for (int turn = 0; turn < 6; ++turn) {
      std::string doc;
      for (int sentence = 0; sentence < 3; ++sentence) {
        for (int w = 0; w < 6; ++w) doc += "t" + std::to_string(s) + "w" + std::to_string(word(random)) + " ";
        doc.back() = sentence == 1 ? '?' : '.';
        doc += ' ';
      }
      docs.push_back(doc.substr(0, doc.size() - 1));
    }
  }
  return docs;
}

// A "model" that knows the topic of every word: a text's vector counts its words per topic.
embed::Embeddings topic_embeddings(const std::vector<std::string>& texts, size_t topics) {
  embed::Embeddings e{texts.size(), topics, std::vector<float>(texts.size() * topics, 0.0f)};
  for (size_t i = 0; i < texts.size(); ++i) {
    for (const std::string& token : bm25_tokenize(texts[i])) {
      if (token.front() != 't' || !std::isdigit(static_cast<unsigned char>(token[1]))) continue;  // "what", "did"
      e.row(i)[std::stoul(token.substr(1, token.find('w') - 1)) % topics] += 1.0f;
    }
  }
  return e;
}

// A model that knows nothing: a random vector per text (seeded by the text).
embed::Embeddings noise_embeddings(const std::vector<std::string>& texts) {
  embed::Embeddings e{texts.size(), 16, std::vector<float>(texts.size() * 16)};
  for (size_t i = 0; i < texts.size(); ++i) {
    std::mt19937_64 random(std::hash<std::string>{}(texts[i]));
    std::normal_distribution<float> normal;
    for (size_t d = 0; d < 16; ++d) e.row(i)[d] = normal(random);
  }
  return e;
}

}  // namespace

TEST(SelfSupervisedQueries, MakesEveryStyleWithValidRelevanceAndScope) {
  const std::vector<std::string> docs = session_corpus(40);
  SelfSupervisedOptions options;
  options.max_queries = 120;
  options.window = 10;
  const SelfSupervisedQueries set = self_supervised_queries(docs, options);
  ASSERT_EQ(set.queries.size(), 120u);
  ASSERT_EQ(set.documents.size(), docs.size());
  std::set<QueryStyle> seen;
  for (size_t q = 0; q < set.queries.size(); ++q) {
    seen.insert(set.styles[q]);
    ASSERT_FALSE(set.relevant[q].empty());
    EXPECT_LE(set.scope[q].size(), 2 * options.window + 1);
    for (uint32_t r : set.relevant[q]) {
      ASSERT_LT(r, docs.size());
      EXPECT_TRUE(std::find(set.scope[q].begin(), set.scope[q].end(), r) != set.scope[q].end())
          << "query " << q << ": relevant document " << r << " is not among those it is ranked against";
    }
    if (set.styles[q] != QueryStyle::Question) {
      EXPECT_GE(std::count(set.queries[q].begin(), set.queries[q].end(), ' ') + 1, 4) << set.queries[q];
    }
    const auto in_scope = [&](uint32_t doc) {
      return std::find(set.scope[q].begin(), set.scope[q].end(), doc) != set.scope[q].end();
    };
    // A neighbour query comes from the document between (or beside) its relevant ones, not ranked.
    uint32_t source = set.relevant[q][0];
    if (set.styles[q] == QueryStyle::Neighbour) source = source > 0 && !in_scope(source - 1) ? source - 1 : source + 1;
    if (set.styles[q] == QueryStyle::Reply) {
      EXPECT_EQ(set.queries[q].back(), '?');
      EXPECT_EQ(set.relevant[q], (std::vector<uint32_t>{source, source + 1}));
      EXPECT_EQ(set.documents[source].find(set.queries[q]), std::string::npos) << "the question stays in its document";
    }
    if (set.styles[q] == QueryStyle::Neighbour) {
      EXPECT_FALSE(in_scope(source)) << "a neighbour query's own document is ranked";
      EXPECT_NE(docs[source].find(set.queries[q]), std::string::npos);
    }
    if (set.styles[q] == QueryStyle::Question) {
      EXPECT_EQ(set.relevant[q].size(), 1u);
      EXPECT_EQ(set.documents[source], docs[source]) << "a question leaves its document whole";
      EXPECT_EQ(set.queries[q].back(), '?');
    }
  }
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_EQ(std::count(set.styles.begin(), set.styles.end(), QueryStyle::Question), 60) << "half the queries are questions";
  // The same seed gives the same queries; another seed others.
  EXPECT_EQ(self_supervised_queries(docs, options).queries, set.queries);
  options.seed = 43;
  EXPECT_NE(self_supervised_queries(docs, options).queries, set.queries);
}

// A chat log: "[time] Name: text" turns whose words come in several inflections across the corpus
// (walked/walk, dogs/dog, groups/group, painting/paint) plus words with only a derivational
// relative (goodness/good) or none (today, mural).
std::vector<std::string> chat_corpus() {
  const std::vector<std::string> turns = {
      "Caroline: I walked my dogs to the painting groups today.",
      "Melanie: We walk the dog with the group and paint a mural every week.",
      "Caroline: My goodness, the mural looks good and our group loved it.",
      "Melanie: I love walking dogs; painting murals is my favourite thing."};
  std::vector<std::string> docs;
  for (int i = 0; i < 48; ++i) docs.push_back(fmt::format("[{}:00 pm on {} May, 2023] {}", 1 + i % 12, 1 + i / 4, turns[i % 4]));
  return docs;
}

TEST(SelfSupervisedQueries, QuestionsRewordAStatementWithTheCorpussOtherInflections) {
  const std::vector<std::string> docs = chat_corpus();
  const SelfSupervisedQueries set = self_supervised_queries(docs);
  size_t questions = 0;
  for (size_t q = 0; q < set.queries.size(); ++q) {
    if (set.styles[q] != QueryStyle::Question) continue;
    ++questions;
    const std::string& query = set.queries[q];
    const std::string& source = docs[set.relevant[q][0]];
    EXPECT_EQ(query.back(), '?');
    EXPECT_NE(query.find(" did "), std::string::npos) << query;
    EXPECT_EQ(query.find('['), std::string::npos) << "annotations are not part of a question: " << query;
    EXPECT_EQ(query.find(':'), std::string::npos) << query;
    const std::vector<std::string> tokens = bm25_tokenize(query);
    const auto has = [&](const char* word) { return std::count(tokens.begin(), tokens.end(), word) > 0; };
    // First person becomes the speaker, who is named in every turn here.
    EXPECT_FALSE(has("i") || has("my") || has("we") || has("our")) << query;
    const std::string speaker = source.find("Caroline:") != std::string::npos ? "caroline" : "melanie";
    EXPECT_TRUE(has(speaker.c_str())) << query;
    // A content word with another inflection in the corpus takes one; the others stay as written.
    const std::vector<std::string> written = bm25_tokenize(source);
    for (const char* form : {"walked", "walk", "walking", "dogs", "dog", "groups", "group", "painting", "paint", "mural", "murals"}) {
      if (has(form)) {
        EXPECT_EQ(std::count(written.begin(), written.end(), form), 0) << form << ": " << source << " -> " << query;
      }
    }
    if (source.find("goodness") != std::string::npos) {
      EXPECT_FALSE(has("goodnes") || has("goods")) << query;
    }
  }
  EXPECT_EQ(questions, set.queries.size() / 2);
}

// Turns whose content words each come in several inflections across the corpus (root, root+s,
// root+ed, root+ing), and a "model" that sees through inflections (a hashed bag of roots) where
// BM25, which does not stem, sees different words: the question queries must reward it.
std::vector<std::string> inflected_chat_corpus() {
  std::mt19937_64 random(5);
  const std::vector<std::string> syllables = {"bal", "ker", "mon", "tiv", "dor", "pun", "sal", "vek", "ron", "lim"};
  std::uniform_int_distribution<size_t> syllable(0, syllables.size() - 1), ending(0, 3);
  const char* const endings[] = {"", "s", "ed", "ing"};
  std::vector<std::string> docs;
  for (int turn = 0; turn < 240; ++turn) {
    std::string doc = fmt::format("{}: I", turn % 2 ? "Ana" : "Bob");
    for (int w = 0; w < 7; ++w) doc += ' ' + syllables[syllable(random)] + syllables[syllable(random)] + syllables[syllable(random)] + endings[ending(random)];
    docs.push_back(doc + '.');
  }
  return docs;
}

embed::Embeddings root_embeddings(const std::vector<std::string>& texts) {
  embed::Embeddings e{texts.size(), 256, std::vector<float>(texts.size() * 256, 0.0f)};
  for (size_t i = 0; i < texts.size(); ++i) {
    for (const std::string& token : bm25_tokenize(texts[i])) {
      if (token.size() < 9) continue;  // names, "what", "did": the roots are 9 letters
      e.row(i)[std::hash<std::string>{}(token.substr(0, 9)) % 256] += 1.0f;
    }
  }
  return e;
}

TEST(TuneFusionOnDocuments, QuestionsTakeADenseShareForAModelThatSeesThroughInflections) {
  const std::vector<std::string> docs = inflected_chat_corpus();
  const EmbedFunction roots = [](const std::vector<std::string>& t) { return root_embeddings(t); };
  const FusionTuning seen = tune_fusion_on_documents(docs, roots, roots);
  EXPECT_GT(seen.weight, 0.0) << seen.reason;
  const EmbedFunction noise = [](const std::vector<std::string>& t) { return noise_embeddings(t); };
  const FusionTuning blind = tune_fusion_on_documents(docs, noise, noise);
  EXPECT_EQ(blind.weight, 0.0) << blind.reason;
}

TEST(SelfSupervisedQueries, ClozeSpansAreCutOutUnlessKept) {
  const std::vector<std::string> docs = session_corpus(20);
  for (double keep : {0.0, 1.0}) {
    SelfSupervisedOptions options;
    options.keep_span = keep;
    const SelfSupervisedQueries set = self_supervised_queries(docs, options);
    size_t cloze = 0;
    for (size_t q = 0; q < set.queries.size(); ++q) {
      if (set.styles[q] != QueryStyle::Cloze) continue;
      ++cloze;
      const bool kept = set.documents[set.relevant[q][0]].find(set.queries[q]) != std::string::npos;
      EXPECT_EQ(kept, keep == 1.0) << set.queries[q];
    }
    EXPECT_GT(cloze, 10u);
  }
  SelfSupervisedOptions bad;
  bad.keep_span = 1.5;
  EXPECT_THROW(self_supervised_queries(docs, bad), Error);
}

TEST(SelfSupervisedQueries, ShortDocumentsGiveNoQueriesAndTuningSaysWhy) {
  const std::vector<std::string> docs(50, "too short to cut");
  EXPECT_TRUE(self_supervised_queries(docs).queries.empty());
  const EmbedFunction embed = [](const std::vector<std::string>& t) { return noise_embeddings(t); };
  try {
    tune_fusion_on_documents(docs, embed, embed);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at least 10 documents"), std::string::npos) << e.what();
  }
}

TEST(TuneFusionOnDocuments, TakesADenseShareWhenTheModelClearlyHelps) {
  const std::vector<std::string> docs = session_corpus(60);
  const EmbedFunction embed = [](const std::vector<std::string>& t) { return topic_embeddings(t, 60); };
  const FusionTuning t = tune_fusion_on_documents(docs, embed, embed);
  EXPECT_GT(t.weight, 0.0) << t.reason;
  EXPECT_GT(t.ndcg_at_10[static_cast<size_t>(t.weight * 10 + 0.5)], t.ndcg_at_10[0] + 0.05);
  EXPECT_EQ(t.query_styles.size(), 4u);
}

TEST(TuneFusionOnDocuments, KeepsBm25WhenTheDenseSideIsNoise) {
  const std::vector<std::string> docs = session_corpus(60);
  const EmbedFunction embed = [](const std::vector<std::string>& t) { return noise_embeddings(t); };
  const FusionTuning t = tune_fusion_on_documents(docs, embed, embed);
  EXPECT_EQ(t.weight, 0.0) << t.reason;
}

// The rule on hand-made score rows: BM25 ties documents 0 and 1 (document 0 first, by key); one
// dense side prefers document 0, the other document 1.
TEST(FusionTuner, TakesAConsistentGainAndIgnoresAGainWithinNoise) {
  const size_t n = 8;
  const std::vector<float> lexical = {2.0f, 2.0f, 1.0f, 1.0f, 0.5f, 0.5f, 0.2f, 0.1f};
  const std::vector<float> prefers_zero = {0.9f, 0.1f, 0.2f, 0.2f, 0.1f, 0.1f, 0.1f, 0.1f};
  const std::vector<float> prefers_one = {0.1f, 0.9f, 0.2f, 0.2f, 0.1f, 0.1f, 0.1f, 0.1f};

  // Every query wants document 1, which only the dense side puts first: a real gain.
  FusionTuner gain;
  for (int q = 0; q < 40; ++q) gain.add_query(lexical.data(), prefers_one.data(), n, nullptr, {1});
  const FusionTuning taken = gain.result();
  EXPECT_GT(taken.weight, 0.0) << taken.reason;
  EXPECT_GE(taken.best_wins[0], 0.95);

  // A dense side that agrees with BM25 everywhere: nothing to gain, weight 0.
  FusionTuner agree;
  for (int q = 0; q < 40; ++q) agree.add_query(lexical.data(), prefers_zero.data(), n, nullptr, {0});
  EXPECT_EQ(agree.result().weight, 0.0);

  // 37 queries indifferent, 2 gain and 1 loses as much: the mean favours a dense share, but
  // resampling the queries often reverses it, so BM25 is kept.
  FusionTuner noisy;
  for (int q = 0; q < 37; ++q) noisy.add_query(lexical.data(), prefers_zero.data(), n, nullptr, {0});
  for (int q = 0; q < 2; ++q) noisy.add_query(lexical.data(), prefers_one.data(), n, nullptr, {1});
  noisy.add_query(lexical.data(), prefers_one.data(), n, nullptr, {0});
  const FusionTuning kept = noisy.result();
  EXPECT_GT(kept.best_weight, 0.0);
  EXPECT_EQ(kept.weight, 0.0) << kept.reason;
  EXPECT_LT(kept.best_wins[0], 0.95);

  EXPECT_THROW(FusionTuner({}, 100, {}), Error);
  EXPECT_THROW(FusionTuner({}, 100, FusionTuner::kDefaultGrid, 1.0), Error);
  EXPECT_THROW(FusionTuner().result(), Error);
}

}  // namespace memembed::retrieval
