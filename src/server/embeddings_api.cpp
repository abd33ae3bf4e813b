// OpenAI-compatible embeddings: POST /v1/embeddings and GET /v1/models, so clients written for
// OpenAI's API (the `openai` npm package, LangChain, ...) work when pointed at this server.
#include "service.h"

#include <openssl/evp.h>

#include <cmath>

namespace memembed::server {

namespace {

std::vector<std::string> parse_inputs(const Json& input, size_t max_inputs) {
  std::vector<std::string> texts;
  if (input.is_string()) {
    texts.push_back(input.get<std::string>());
  } else if (input.is_array()) {
    for (size_t i = 0; i < input.size(); ++i) {
      if (input[i].is_number_integer() || input[i].is_array()) {
        throw ApiError(400, "invalid_request",
                       "input[" + std::to_string(i) + "]: token-id input is not supported (token ids are the model's "
                       "own, not OpenAI's); send the text");
      }
      if (!input[i].is_string()) throw ApiError(400, "invalid_request", "input[" + std::to_string(i) + "] must be a string");
      texts.push_back(input[i].get<std::string>());
    }
  } else {
    throw ApiError(400, "invalid_request", "input must be a string or an array of strings");
  }
  if (texts.empty()) throw ApiError(400, "invalid_request", "input is an empty array");
  if (texts.size() > max_inputs) {
    throw ApiError(400, "invalid_request",
                   "input has " + std::to_string(texts.size()) + " items; the limit is " + std::to_string(max_inputs));
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) throw ApiError(400, "invalid_request", "input[" + std::to_string(i) + "] is an empty string");
  }
  return texts;
}

// The first `dims` values scaled to unit length (Matryoshka truncation when dims < the model's).
std::vector<float> unit_prefix(const float* values, size_t dims) {
  double norm = 0;
  for (size_t i = 0; i < dims; ++i) norm += static_cast<double>(values[i]) * values[i];
  const double scale = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
  std::vector<float> out(dims);
  for (size_t i = 0; i < dims; ++i) out[i] = static_cast<float>(values[i] * scale);
  return out;
}

// OpenAI's base64 form: the little-endian float32 bytes, base64-encoded.
std::string base64_floats(const std::vector<float>& values) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
  const size_t size = values.size() * sizeof(float);
  std::string out(4 * ((size + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes, static_cast<int>(size));
  out.resize(static_cast<size_t>(written));
  return out;
}

}  // namespace

void add_embeddings_routes(httplib::Server& http, Service& service) {
  add_route(http, service, "POST", "/v1/embeddings", "/v1/embeddings", Access::Agent,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller&) {
              const Json body = parse_json_body(request);
              check_fields(body, {"input", "model", "encoding_format", "dimensions", "user"}, "the embeddings request");
              const auto embedder = std::atomic_load(&service.embedder);
              if (!embedder) {
                throw ApiError(404, "model_not_found",
                               "this server runs without an embedding model (BM25 only); start it with --model");
              }
              if (!body.contains("input")) throw ApiError(400, "invalid_request", "input is required");
              const std::vector<std::string> texts = parse_inputs(body["input"], service.options.max_embedding_inputs);
              std::string format = "float";
              if (body.contains("encoding_format") && !body["encoding_format"].is_null()) {
                if (!body["encoding_format"].is_string()) throw ApiError(400, "invalid_request", "encoding_format must be a string");
                format = body["encoding_format"].get<std::string>();
                if (format != "float" && format != "base64") {
                  throw ApiError(400, "invalid_request",
                                 "encoding_format must be \"float\" or \"base64\", got \"" + format + "\"");
                }
              }
              const memory::ModelIdentity model = embedder->identity();
              size_t dims = model.dims;
              if (body.contains("dimensions") && !body["dimensions"].is_null()) {
                if (!body["dimensions"].is_number_integer()) throw ApiError(400, "invalid_request", "dimensions must be an integer");
                const auto requested = body["dimensions"].get<int64_t>();
                if (requested < 1 || static_cast<size_t>(requested) > model.dims) {
                  throw ApiError(400, "invalid_request",
                                 "dimensions must be between 1 and " + std::to_string(model.dims) + " for model " +
                                     model.name + ", got " + std::to_string(requested));
                }
                dims = static_cast<size_t>(requested);
              }

              const embed::Embeddings vectors = embedder->embed_documents(texts);
              size_t tokens = 0;
              if (service.parts.count_tokens) {
                for (const std::string& text : texts) tokens += service.parts.count_tokens(text);
              }
              Json data = Json::array();
              for (size_t i = 0; i < vectors.rows; ++i) {
                std::vector<float> values = unit_prefix(vectors.row(i), dims);
                Json item = {{"object", "embedding"}, {"index", i}};
                if (format == "base64") item["embedding"] = base64_floats(values);
                else item["embedding"] = std::move(values);
                data.push_back(std::move(item));
              }
              write_json(response, 200,
                         {{"object", "list"},
                          {"data", std::move(data)},
                          {"model", model.name},
                          {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
            });

  add_route(http, service, "GET", "/v1/models", "/v1/models", Access::Agent,
            [&service](const httplib::Request&, httplib::Response& response, const Caller&) {
              Json data = Json::array();
              if (const auto embedder = std::atomic_load(&service.embedder)) {
                data.push_back({{"id", embedder->identity().name}, {"object", "model"}, {"created", 0},
                                {"owned_by", "memembed"}});
              }
              write_json(response, 200, {{"object", "list"}, {"data", data}});
            });
}

}  // namespace memembed::server
