#include "vault/capture.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <istream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/files.hpp"
#include "core/json.hpp"
#include "vault/json_wipe.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pb::vault {
namespace {

constexpr std::uint64_t k_max_token = 1u << 20;

/// Why a streamed parse stopped early; the iterator reports end-of-input and
/// the parser then fails, so the reason is kept here.
struct StreamState {
  std::streambuf* buf = nullptr;
  std::uint64_t consumed = 0;
  std::uint64_t max_input = 0;
  std::uint64_t last_event = 0;  // position of the last SAX event, to bound single tokens
  std::string stop_reason;
};

/// An input iterator over a streambuf that counts bytes and ends the input
/// when a bound is crossed; nlohmann's iterator adapter reads through it.
class BoundedIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  BoundedIterator() = default;
  explicit BoundedIterator(StreamState* s) : m_s(s) { fetch(); }
  const char& operator*() const { return m_c; }
  BoundedIterator& operator++() {
    m_s->buf->sbumpc();
    ++m_s->consumed;
    fetch();
    return *this;
  }
  bool operator==(const BoundedIterator& o) const { return at_end() == o.at_end(); }
  bool operator!=(const BoundedIterator& o) const { return !(*this == o); }

 private:
  bool at_end() const { return m_s == nullptr || m_end; }
  void fetch() {
    if (m_s->consumed >= m_s->max_input) {
      m_s->stop_reason = "it is larger than " + std::to_string(m_s->max_input) + " bytes";
      m_end = true;
      return;
    }
    if (m_s->consumed - m_s->last_event > k_max_token) {
      m_s->stop_reason = "it holds a value larger than 1 MiB";
      m_end = true;
      return;
    }
    int c = m_s->buf->sgetc();
    if (c == std::char_traits<char>::eof()) {
      m_end = true;
      return;
    }
    m_c = static_cast<char>(c);
  }
  StreamState* m_s = nullptr;
  char m_c = 0;
  bool m_end = false;
};

/// SAX handler that keeps only chosen top-level keys (or everything), with
/// depth and size bounds. Values of kept keys are built with an explicit stack.
class FilterSax : public nlohmann::json_sax<json> {
 public:
  FilterSax(StreamState* state, bool keep_all) : m_state(state), m_keep_all(keep_all) {}

  json result = json::object();
  std::string error;

  bool null() override { return value(json()); }
  bool boolean(bool v) override { return value(json(v)); }
  bool number_integer(number_integer_t v) override { return value(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return value(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return value(json(v)); }
  bool string(string_t& v) override {
    if (m_capturing) m_kept_size += v.size();
    return value(json(std::move(v)));
  }
  bool binary(binary_t&) override { return refuse("it holds binary data"); }
  bool start_object(std::size_t) override { return open(json::object()); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    touch();
    if (m_depth == 1) {
      m_capturing =
          m_keep_all || std::find(std::begin(k_login_keys), std::end(k_login_keys), k) != std::end(k_login_keys);
      m_top_key = k;
      if (m_capturing && result.contains(k)) return refuse("it repeats the key " + k);
    } else if (m_capturing) {
      m_kept_size += k.size();
      m_keys.back() = k;
    }
    return check_size();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    if (error.empty()) error = m_state && !m_state->stop_reason.empty() ? m_state->stop_reason : "it is not valid JSON";
    return false;
  }

 private:
  void touch() {
    if (m_state) m_state->last_event = m_state->consumed;
  }
  bool refuse(std::string why) {
    if (error.empty()) error = std::move(why);
    return false;
  }
  bool check_size() {
    if (m_kept_size > k_max_login_value * 4) return refuse("its login keys are too large");
    return true;
  }
  bool value(json v) {
    touch();
    if (m_depth == 0) return refuse("it is not a JSON object");
    if (!m_capturing) return true;
    m_kept_size += 8;
    if (m_depth == 1) {
      result[m_top_key] = std::move(v);
      m_capturing = false;
      return check_size();
    }
    insert(std::move(v));
    return check_size();
  }
  void insert(json v) {
    json& top = m_stack.back();
    if (top.is_array())
      top.push_back(std::move(v));
    else
      top[m_keys.back()] = std::move(v);
  }
  bool open(json container) {
    touch();
    ++m_depth;
    if (m_depth > k_max_json_depth) return refuse("it is nested too deeply");
    if (m_depth == 1) {
      if (!container.is_object()) return refuse("it is not a JSON object");
      return true;
    }
    if (!m_capturing) return true;
    m_stack.push_back(std::move(container));
    m_keys.emplace_back();
    return check_size();
  }
  bool close() {
    touch();
    --m_depth;
    if (m_depth == 0 || !m_capturing) return true;
    json done = std::move(m_stack.back());
    m_stack.pop_back();
    m_keys.pop_back();
    if (m_stack.empty()) {
      result[m_top_key] = std::move(done);
      m_capturing = false;
    } else {
      insert(std::move(done));
    }
    return true;
  }

  StreamState* m_state;
  bool m_keep_all;
  std::size_t m_depth = 0;
  bool m_capturing = false;
  std::string m_top_key;
  std::vector<json> m_stack;
  std::vector<std::string> m_keys;
  std::uint64_t m_kept_size = 0;
};

Result<json> parse_bounded(std::istream& in, std::uint64_t max_input, bool keep_all, std::string_view what) {
  StreamState state;
  state.buf = in.rdbuf();
  state.max_input = max_input;
  FilterSax sax(&state, keep_all);
  bool ok = false;
  try {
    ok =
        json::sax_parse(BoundedIterator(&state), BoundedIterator(), &sax, nlohmann::detail::input_format_t::json, true);
  } catch (const json::exception&) {
    ok = false;
  } catch (const std::bad_alloc&) {
    return fail(ErrorKind::unsafe_input, std::string(what) + " is too large to read");
  }
  if (!ok) {
    std::string why = !sax.error.empty()           ? sax.error
                      : !state.stop_reason.empty() ? state.stop_reason
                                                   : "it is not valid JSON";
    return fail(ErrorKind::unsafe_input, std::string(what) + " was refused: " + why);
  }
  return std::move(sax.result);
}

class SpanBuf : public std::streambuf {
 public:
  explicit SpanBuf(ByteSpan s) {
    char* p = const_cast<char*>(reinterpret_cast<const char*>(s.data()));
    setg(p, p, p + s.size());
  }
};

Result<json> parse_bounded(ByteSpan bytes, std::uint64_t max_input, bool keep_all, std::string_view what) {
  SpanBuf buf(bytes);
  std::istream in(&buf);
  return parse_bounded(in, max_input, keep_all, what);
}

SecureBytes dump_secure(const json& j) {
  std::string s = j.dump();
  SecureBytes out(s.begin(), s.end());
  secure_wipe(s.data(), s.size());
  return out;
}

}  // namespace

Result<SecureBytes> reduce_claude_json(std::istream& in, std::uint64_t max_input) {
  PB_TRY(json j, parse_bounded(in, max_input, false, ".claude.json"));
  JsonWiper w{j};
  return dump_secure(j);
}

Result<SecureBytes> reduce_claude_json(ByteSpan in, std::uint64_t max_input) {
  PB_TRY(json j, parse_bounded(in, max_input, false, ".claude.json"));
  JsonWiper w{j};
  return dump_secure(j);
}

Result<LoginSummary> summarise_login(ByteSpan credentials_json, ByteSpan reduced_claude_json) {
  json creds = json::object(), cfg = json::object();
  JsonWiper w1{creds}, w2{cfg};
  if (!credentials_json.empty()) {
    if (credentials_json.size() > k_max_credentials_json)
      return fail(ErrorKind::unsafe_input, ".credentials.json was refused: it is larger than 1 MiB");
    PB_TRY(creds, parse_bounded(credentials_json, k_max_credentials_json, true, ".credentials.json"));
  }
  if (!reduced_claude_json.empty()) {
    PB_TRY(cfg, parse_bounded(reduced_claude_json, k_max_claude_json, false, ".claude.json"));
  }
  LoginSummary s;
  auto str = [](const json& o, const char* k) -> std::string {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const auto oauth_it = creds.find("claudeAiOauth");
  if (oauth_it != creds.end() && !oauth_it->is_object())
    return fail(ErrorKind::unsafe_input, ".credentials.json was refused: claudeAiOauth is not an object");
  if (oauth_it != creds.end() && oauth_it->contains("accessToken") && (*oauth_it)["accessToken"].is_string()) {
    const json& o = *oauth_it;
    s.kind = o.contains("refreshToken") ? "oauth" : "setup-token";
    const std::string& token = o["accessToken"].get_ref<const std::string&>();
    s.secret.assign(token.begin(), token.end());
    if (auto e = o.find("expiresAt"); e != o.end()) {
      auto expires = whole_number<std::int64_t>(*e);
      if (!expires)
        return fail(ErrorKind::unsafe_input, ".credentials.json was refused: expiresAt is not a whole number in range");
      s.expires_at = *expires;
    }
    s.plan = str(o, "subscriptionType");
    if (s.plan.empty() && o.contains("isMax") && o["isMax"].is_boolean())
      s.plan = o["isMax"].get<bool>() ? "max" : "pro";
    s.account_uuid = str(o, "accountUuid");
  } else if (cfg.contains("primaryApiKey") && cfg["primaryApiKey"].is_string()) {
    s.kind = "api-key";
    const std::string& key = cfg["primaryApiKey"].get_ref<const std::string&>();
    s.secret.assign(key.begin(), key.end());
  } else {
    return fail(ErrorKind::not_found, "no Claude Code login found (neither an OAuth token nor an API key)");
  }
  if (auto a = cfg.find("oauthAccount"); a != cfg.end() && a->is_object()) {
    s.account = str(*a, "emailAddress");
    if (s.account_uuid.empty()) s.account_uuid = str(*a, "accountUuid");
  }
  if (!s.account_uuid.empty())
    s.identity = "uuid:" + s.account_uuid;
  else if (!s.account.empty())
    s.identity = "email:" + s.account;
  return s;
}

Result<Capture> capture_from_dir(const fs::path& home, const std::optional<fs::path>& config_dir, std::string source) {
  const fs::path creds_path = config_dir ? *config_dir / ".credentials.json" : home / ".claude" / ".credentials.json";
  const fs::path cfg_path = config_dir ? *config_dir / ".claude.json" : home / ".claude.json";
  Capture c;
  c.source = std::move(source);
  bool found = false;
  auto creds = read_file(creds_path, k_max_credentials_json);
  if (creds) {
    c.credentials_json = std::move(*creds);
    found = true;
  } else if (creds.error().kind != ErrorKind::not_found) {
    return std::move(creds).error();
  }
  struct stat st {};
  if (::lstat(cfg_path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) return fail(ErrorKind::unsafe_input, cfg_path.string() + " is not a regular file");
    std::ifstream in(cfg_path, std::ios::binary);
    if (!in) return fail(ErrorKind::failure, "opening " + cfg_path.string() + " failed");
    PB_TRY(c.claude_json, reduce_claude_json(in));
    found = true;
  }
  if (!found)
    return fail(ErrorKind::not_found, "no Claude Code login in " + home.string() + ": neither " + creds_path.string() +
                                          " nor " + cfg_path.string() + " exists");
  return c;
}

}  // namespace pb::vault
