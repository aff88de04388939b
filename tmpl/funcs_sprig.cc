// tmpl/funcs_sprig.cc: the Sprig (v3) functions Warewulf's overlays use, and Warewulf's own
// context-free helpers, with the Go signatures that drive text/template's argument checks.
//
// Differences from Sprig (see docs/templates.md): regular expressions use POSIX ERE with RE2's
// \d \w \s shorthands translated (leftmost-longest instead of leftmost-first matching); case
// mapping uses glibc's C.UTF-8 tables; `now` returns Unix seconds (an int64), not a
// time.Time, so {{now}} prints differently, while `date FORMAT now` works.
#include <openssl/sha.h>
#include <regex.h>

#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "tmpl/ast.h"

namespace sw::tmpl {
namespace {

using A = ArgType;

Status Err(std::string msg) { return Status::InvalidArgument(msg); }

// Sprig's strval: strings as is, everything else through %v.
std::string StrVal(const Value& v) {
  if (v.kind() == Value::Kind::kString) return v.string_value();
  return FormatValue(v);
}

// Sprig's empty().
bool Empty(const Value& v) { return !v.Truth(); }

// strconv.ParseInt(s, 0, 64) (base prefixes, underscores between digits).
bool ParseIntBase0(std::string_view s, int64_t* out) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  bool prefixed = false;
  if (s.size() >= 2 && s[0] == '0') {
    char c = s[1] | 0x20;
    if (c == 'x' || c == 'o' || c == 'b') {
      base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
      s.remove_prefix(2);
      prefixed = true;
    } else {
      base = 8;
      s.remove_prefix(1);
      prefixed = true;
    }
  }
  if (s.empty() && !(prefixed && base == 8)) return false;
  unsigned __int128 acc = 0;
  bool last_us = prefixed;
  for (char c : s) {
    if (c == '_') {
      if (last_us) return false;
      last_us = true;
      continue;
    }
    int d = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'z') ? c - 'a' + 10
            : (c >= 'A' && c <= 'Z') ? c - 'A' + 10
                                     : 99;
    if (d >= base) return false;
    last_us = false;
    acc = acc * base + d;
    if (acc > static_cast<unsigned __int128>(INT64_MAX) + 1) return false;
  }
  if (last_us && !s.empty()) return false;
  if (!neg && acc > static_cast<unsigned __int128>(INT64_MAX)) return false;
  *out = neg ? static_cast<int64_t>(-static_cast<__int128>(acc)) : static_cast<int64_t>(acc);
  return true;
}

// cast.ToInt64 (used by Sprig's arithmetic): 0 when the value does not convert.
int64_t ToInt64(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kInt:
      return v.int_value();
    case Value::Kind::kUint:
      return static_cast<int64_t>(v.uint_value());
    case Value::Kind::kFloat:
      return static_cast<int64_t>(v.float_value());
    case Value::Kind::kBool:
      return v.bool_value() ? 1 : 0;
    case Value::Kind::kString: {
      // trimZeroDecimal: "12.000" -> "12".
      std::string s = v.string_value();
      size_t dot = s.rfind('.');
      if (dot != std::string::npos && dot + 1 < s.size() &&
          s.find_first_not_of('0', dot + 1) == std::string::npos) {
        s.resize(dot);
      }
      int64_t r;
      return ParseIntBase0(s, &r) ? r : 0;
    }
    default:
      return 0;
  }
}

// strconv.Atoi: base 10, optional sign.
int64_t Atoi(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return 0;
  int64_t r = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    if (r > (INT64_MAX - (c - '0')) / 10) return 0;
    r = r * 10 + (c - '0');
  }
  return neg ? -r : r;
}

std::string Replace(std::string_view src, std::string_view from, std::string_view to) {
  std::string out;
  if (from.empty()) {
    // strings.Replace with an empty old string inserts `to` around every rune.
    out.append(to);
    for (size_t i = 0; i < src.size();) {
      size_t sz;
      DecodeRune(src, i, &sz);
      out.append(src.substr(i, sz));
      out.append(to);
      i += sz;
    }
    return out;
  }
  size_t pos = 0;
  for (;;) {
    size_t f = src.find(from, pos);
    if (f == std::string_view::npos) break;
    out.append(src.substr(pos, f - pos));
    out.append(to);
    pos = f + from.size();
  }
  out.append(src.substr(pos));
  return out;
}

std::vector<std::string> Split(std::string_view s, std::string_view sep) {
  std::vector<std::string> parts;
  if (sep.empty()) {
    for (size_t i = 0; i < s.size();) {
      size_t sz;
      DecodeRune(s, i, &sz);
      parts.emplace_back(s.substr(i, sz));
      i += sz;
    }
    return parts;
  }
  size_t pos = 0;
  for (;;) {
    size_t f = s.find(sep, pos);
    if (f == std::string_view::npos) break;
    parts.emplace_back(s.substr(pos, f - pos));
    pos = f + sep.size();
  }
  parts.emplace_back(s.substr(pos));
  return parts;
}

bool IsGoSpace(uint32_t r) {
  return r == ' ' || (r >= '\t' && r <= '\r') || r == 0x85 || r == 0xA0 || r == 0x1680 ||
         (r >= 0x2000 && r <= 0x200A) || r == 0x2028 || r == 0x2029 || r == 0x202F ||
         r == 0x205F || r == 0x3000;
}

// strings.Trim / TrimSpace with a rune predicate.
template <typename Pred>
std::string TrimRunes(std::string_view s, Pred drop) {
  size_t b = 0;
  while (b < s.size()) {
    size_t sz;
    uint32_t r = DecodeRune(s, b, &sz);
    if (!drop(r)) break;
    b += sz;
  }
  size_t e = s.size();
  while (e > b) {
    size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t sz;
    uint32_t r = DecodeRune(s, start, &sz);
    if (!drop(r)) break;
    e = start;
  }
  return std::string(s.substr(b, e - b));
}

std::vector<uint32_t> Runes(std::string_view s) {
  std::vector<uint32_t> r;
  for (size_t i = 0; i < s.size();) {
    size_t sz;
    r.push_back(DecodeRune(s, i, &sz));
    i += sz;
  }
  return r;
}

// Sprig's strslice: a list's non-nil elements as strings; a non-list value as one string.
std::vector<std::string> StrSlice(const Value& v) {
  std::vector<std::string> out;
  if (v.kind() == Value::Kind::kList) {
    for (const Value& e : v.list()) {
      if (!e.IsNilOrInvalid()) out.push_back(StrVal(e));
    }
    return out;
  }
  if (v.IsNilOrInvalid()) return out;
  out.push_back(StrVal(v));
  return out;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.append(sep);
    out.append(parts[i]);
  }
  return out;
}

// ---- Regular expressions (RE2 subset on POSIX ERE) ------------------------------------------

std::string TranslateRe2(std::string_view re) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < re.size(); ++i) {
    char c = re[i];
    if (c == '\\' && i + 1 < re.size()) {
      char e = re[i + 1];
      const char* cls = nullptr;
      switch (e) {
        case 'd': cls = in_class ? "0-9" : "[0-9]"; break;
        case 'D': cls = in_class ? nullptr : "[^0-9]"; break;
        case 'w': cls = in_class ? "0-9A-Za-z_" : "[0-9A-Za-z_]"; break;
        case 'W': cls = in_class ? nullptr : "[^0-9A-Za-z_]"; break;
        case 's': cls = in_class ? "[:space:]" : "[[:space:]]"; break;
        case 'S': cls = in_class ? nullptr : "[^[:space:]]"; break;
        default: break;
      }
      if (cls != nullptr) {
        out += cls;
        ++i;
        continue;
      }
      if (in_class) {
        // POSIX classes have no escapes: keep the escaped character literally.
        if (e == ']' || e == '\\' || e == '-' || e == '^') {
          out.push_back(e);
        } else {
          out.push_back(e);
        }
        ++i;
        continue;
      }
      out.push_back(c);
      out.push_back(e);
      ++i;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out.push_back(c);
      if (i + 1 < re.size() && re[i + 1] == '^') {
        out.push_back('^');
        ++i;
      }
      if (i + 1 < re.size() && re[i + 1] == ']') {
        out.push_back(']');
        ++i;
      }
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out.push_back(c);
  }
  return out;
}

class Regex {
 public:
  Regex() = default;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() {
    if (ok_) regfree(&re_);
  }
  Status Compile(std::string_view pattern) {
    std::string p = TranslateRe2(pattern);
    int rc = regcomp(&re_, p.c_str(), REG_EXTENDED);
    if (rc != 0) {
      char buf[256];
      regerror(rc, &re_, buf, sizeof(buf));
      return Err("regexp: Compile(" + GoQuote(pattern) + "): error parsing regexp: " + buf);
    }
    ok_ = true;
    return Status::OK();
  }
  // Match at or after `from`; false when none.
  bool Exec(const std::string& s, size_t from, std::vector<regmatch_t>* m, bool not_bol) const {
    m->assign(re_.re_nsub + 1, regmatch_t{-1, -1});
    regmatch_t* pm = m->data();
    pm[0].rm_so = static_cast<regoff_t>(from);
    pm[0].rm_eo = static_cast<regoff_t>(s.size());
    int flags = REG_STARTEND | (not_bol ? REG_NOTBOL : 0);
    return regexec(&re_, s.c_str(), m->size(), pm, flags) == 0;
  }

 private:
  regex_t re_{};
  bool ok_ = false;
};

// regexp's allMatches: successive leftmost matches, at most n (n < 0: all), skipping an empty
// match right after the previous match.
std::vector<std::pair<size_t, size_t>> FindAllIndex(const Regex& re, const std::string& s,
                                                    int64_t n) {
  std::vector<std::pair<size_t, size_t>> out;
  std::vector<regmatch_t> m;
  size_t pos = 0;
  int64_t prev_end = -1;
  while ((n < 0 || static_cast<int64_t>(out.size()) < n) && pos <= s.size()) {
    if (!re.Exec(s, pos, &m, pos > 0)) break;
    size_t so = m[0].rm_so, eo = m[0].rm_eo;
    bool accept = true;
    if (eo == pos && so == eo) {
      if (static_cast<int64_t>(so) == prev_end) accept = false;
      if (pos >= s.size()) {
        pos = s.size() + 1;
      } else {
        size_t sz;
        DecodeRune(s, pos, &sz);
        pos += sz;
      }
    } else {
      pos = eo;
    }
    prev_end = static_cast<int64_t>(eo);
    if (accept) out.emplace_back(so, eo);
  }
  return out;
}

// regexp.Expand for $1, ${1}, $name, ${name}, $$ (named groups are not supported: empty).
void Expand(std::string* out, std::string_view repl, const std::string& src,
            const std::vector<regmatch_t>& m) {
  for (size_t i = 0; i < repl.size(); ++i) {
    char c = repl[i];
    if (c != '$' || i + 1 >= repl.size()) {
      out->push_back(c);
      continue;
    }
    if (repl[i + 1] == '$') {
      out->push_back('$');
      ++i;
      continue;
    }
    std::string name;
    size_t j = i + 1;
    if (repl[j] == '{') {
      size_t close = repl.find('}', j);
      if (close == std::string_view::npos) {
        out->push_back('$');
        continue;
      }
      name = std::string(repl.substr(j + 1, close - j - 1));
      j = close + 1;
    } else {
      while (j < repl.size() && (isalnum(static_cast<unsigned char>(repl[j])) || repl[j] == '_')) {
        name.push_back(repl[j++]);
      }
    }
    if (name.empty()) {
      out->push_back('$');
      continue;
    }
    i = j - 1;
    if (name.find_first_not_of("0123456789") == std::string::npos && name.size() < 9) {
      size_t g = std::stoul(name);
      if (g < m.size() && m[g].rm_so >= 0) {
        out->append(src, m[g].rm_so, m[g].rm_eo - m[g].rm_so);
      }
    }
  }
}

// ---- Dates ----------------------------------------------------------------------------------

std::string GoDateFormat(std::string_view layout, time_t t) {
  struct tm tm;
  localtime_r(&t, &tm);
  static const char* const kDays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday",
                                      "Friday", "Saturday"};
  static const char* const kMonths[] = {"January", "February", "March",     "April",
                                        "May",     "June",     "July",      "August",
                                        "September", "October", "November", "December"};
  auto two = [](int v) {
    char b[16];
    snprintf(b, sizeof(b), "%02d", v);
    return std::string(b);
  };
  std::string out;
  long off = tm.tm_gmtoff;
  auto zone = [&](bool colon, bool z) {
    if (z && off == 0) return std::string("Z");
    char b[16];
    long a = off < 0 ? -off : off;
    snprintf(b, sizeof(b), colon ? "%c%02ld:%02ld" : "%c%02ld%02ld", off < 0 ? '-' : '+',
             a / 3600, (a / 60) % 60);
    return std::string(b);
  };
  for (size_t i = 0; i < layout.size();) {
    std::string_view r = layout.substr(i);
    auto take = [&](std::string_view tok) {
      if (r.starts_with(tok)) {
        i += tok.size();
        return true;
      }
      return false;
    };
    int hour12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
    if (take("January")) {
      out += kMonths[tm.tm_mon];
    } else if (take("Jan")) {
      out += std::string(kMonths[tm.tm_mon]).substr(0, 3);
    } else if (take("Monday")) {
      out += kDays[tm.tm_wday];
    } else if (take("Mon")) {
      out += std::string(kDays[tm.tm_wday]).substr(0, 3);
    } else if (take("MST")) {
      out += tm.tm_zone != nullptr ? tm.tm_zone : "UTC";
    } else if (take("2006")) {
      out += std::to_string(tm.tm_year + 1900);
    } else if (take("Z07:00")) {
      out += zone(true, true);
    } else if (take("Z0700")) {
      out += zone(false, true);
    } else if (take("-07:00")) {
      out += zone(true, false);
    } else if (take("-0700")) {
      out += zone(false, false);
    } else if (take("01")) {
      out += two(tm.tm_mon + 1);
    } else if (take("02")) {
      out += two(tm.tm_mday);
    } else if (take("03")) {
      out += two(hour12);
    } else if (take("04")) {
      out += two(tm.tm_min);
    } else if (take("05")) {
      out += two(tm.tm_sec);
    } else if (take("06")) {
      out += two(tm.tm_year % 100);
    } else if (take("002")) {
      char b[16];
      snprintf(b, sizeof(b), "%03d", tm.tm_yday + 1);
      out += b;
    } else if (take("_2")) {
      char b[16];
      snprintf(b, sizeof(b), "%2d", tm.tm_mday);
      out += b;
    } else if (take("15")) {
      out += two(tm.tm_hour);
    } else if (take("PM")) {
      out += tm.tm_hour >= 12 ? "PM" : "AM";
    } else if (take("pm")) {
      out += tm.tm_hour >= 12 ? "pm" : "am";
    } else if (take("1")) {
      out += std::to_string(tm.tm_mon + 1);
    } else if (take("2")) {
      out += std::to_string(tm.tm_mday);
    } else if (take("3")) {
      out += std::to_string(hour12);
    } else if (take("4")) {
      out += std::to_string(tm.tm_min);
    } else if (take("5")) {
      out += std::to_string(tm.tm_sec);
    } else if (r.starts_with(".0") || r.starts_with(".9")) {
      // Fractional seconds: our times are whole seconds.
      char d = r[1];
      size_t n = 1;
      while (n < r.size() && r[n] == d) ++n;
      bool digit_follows = n < r.size() && isdigit(static_cast<unsigned char>(r[n]));
      if (digit_follows) {
        out.push_back('.');
        ++i;
      } else {
        if (d == '0') out += "." + std::string(n - 1, '0');
        i += n;
      }
    } else {
      out.push_back(layout[i++]);
    }
  }
  return out;
}

// ---- Base64 / hashing -----------------------------------------------------------------------

std::string B64Enc(std::string_view s) {
  static const char* kAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(s[i]) << 16) |
                 (static_cast<unsigned char>(s[i + 1]) << 8) | static_cast<unsigned char>(s[i + 2]);
    out.push_back(kAlpha[v >> 18]);
    out.push_back(kAlpha[(v >> 12) & 63]);
    out.push_back(kAlpha[(v >> 6) & 63]);
    out.push_back(kAlpha[v & 63]);
  }
  if (i < s.size()) {
    uint32_t v = static_cast<unsigned char>(s[i]) << 16;
    if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    out.push_back(kAlpha[v >> 18]);
    out.push_back(kAlpha[(v >> 12) & 63]);
    out.push_back(i + 1 < s.size() ? kAlpha[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// base64.StdEncoding.DecodeString (Go's decodeQuantum, including where it reports errors); on
// error returns the error text as Sprig does.
std::string B64Dec(std::string_view src) {
  auto val = [](unsigned char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  auto fail = [](size_t p) { return "illegal base64 data at input byte " + std::to_string(p); };
  auto is_nl = [](char c) { return c == '\n' || c == '\r'; };
  std::string out;
  size_t si = 0;
  for (;;) {
    int dbuf[4] = {0, 0, 0, 0};
    int dlen = 4;
    bool end = false;
    for (int j = 0; j < 4; ++j) {
      if (si == src.size()) {
        if (j == 0) return out;
        return fail(si - j);  // a padded encoding needs complete quanta
      }
      unsigned char in = src[si++];
      int v = val(in);
      if (v >= 0) {
        dbuf[j] = v;
        continue;
      }
      if (is_nl(static_cast<char>(in))) {
        --j;
        continue;
      }
      if (in != '=') return fail(si - 1);
      if (j < 2) return fail(si - 1);  // incorrect padding
      if (j == 2) {
        while (si < src.size() && is_nl(src[si])) ++si;
        if (si == src.size()) return fail(src.size());
        if (src[si] != '=') return fail(si - 1);
        ++si;
      }
      while (si < src.size() && is_nl(src[si])) ++si;
      if (si < src.size()) return fail(si);  // trailing garbage
      dlen = j;
      end = true;
      break;
    }
    uint32_t v = (dbuf[0] << 18) | (dbuf[1] << 12) | (dbuf[2] << 6) | dbuf[3];
    out.push_back(static_cast<char>(v >> 16));
    if (dlen > 2) out.push_back(static_cast<char>((v >> 8) & 0xFF));
    if (dlen > 3) out.push_back(static_cast<char>(v & 0xFF));
    if (end) return out;
  }
}

std::string Sha256Hex(std::string_view s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// ---- Warewulf -------------------------------------------------------------------------------

std::string Basename(std::string_view p) {
  if (p.empty()) return ".";
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  size_t s = p.rfind('/');
  if (s != std::string_view::npos && p.size() > 1) p = p.substr(s + 1);
  if (p.empty()) return "/";
  return std::string(p);
}

std::string SystemdEscape(std::string_view s, bool is_path) {
  static const char* kAllowed =
      ":_.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string e;
  bool in_slashes = false, start = true;
  for (char c : s) {
    if (is_path) {
      if (c == '/') {
        in_slashes = true;
        continue;
      }
      if (in_slashes) {
        in_slashes = false;
        if (!start) e.push_back('-');
      }
    }
    if (c == '/') {
      e.push_back('-');
    } else if ((start && c == '.') || c == '\0' || strchr(kAllowed, c) == nullptr) {
      char b[8];
      snprintf(b, sizeof(b), "\\x%x", static_cast<unsigned char>(c));
      e += b;
    } else {
      e.push_back(c);
    }
    start = false;
  }
  if (is_path && e.empty()) e = "-";
  return e;
}

std::string UniqueField(std::string_view sep, int64_t index, std::string_view input) {
  std::vector<std::string> lines;
  std::vector<std::string> seen;
  for (const std::string& line : Split(input, "\n")) {
    std::vector<std::string> fields = Split(line, sep);
    if (index >= 0 && static_cast<int64_t>(fields.size()) > index) {
      const std::string& f = fields[index];
      if (std::find(seen.begin(), seen.end(), f) == seen.end()) {
        seen.push_back(f);
        lines.push_back(line);
      }
    } else {
      lines.push_back(line);
    }
  }
  return Join(lines, "\n");
}

Value Str(std::string s) { return Value(std::move(s)); }

// reflect.DeepEqual over our value kinds (int and int64 are different types, as in Go).
bool DeepEqual(const Value& a, const Value& b) {
  if (a.IsNilOrInvalid() || b.IsNilOrInvalid()) return a.IsNilOrInvalid() && b.IsNilOrInvalid();
  if (a.kind() != b.kind() || a.GoTypeName() != b.GoTypeName()) return false;
  switch (a.kind()) {
    case Value::Kind::kBool:
      return a.bool_value() == b.bool_value();
    case Value::Kind::kInt:
      return a.int_value() == b.int_value();
    case Value::Kind::kUint:
      return a.uint_value() == b.uint_value();
    case Value::Kind::kFloat:
      return a.float_value() == b.float_value();
    case Value::Kind::kString:
      return a.string_value() == b.string_value();
    case Value::Kind::kList: {
      const ValueList& x = a.list();
      const ValueList& y = b.list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!DeepEqual(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Kind::kMap: {
      const auto& x = a.map_data().entries;
      const auto& y = b.map_data().entries;
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i].first != y[i].first || !DeepEqual(x[i].second, y[i].second)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

// Unicode simple case mapping through glibc's C.UTF-8 tables (ASCII only if that locale is
// missing). Go's unicode.ToUpper/ToLower are the reference.
locale_t Utf8Locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  return loc;
}

uint32_t ToUpperRune(uint32_t r) {
  if (r < 0x80) return (r >= 'a' && r <= 'z') ? r - 32 : r;
  locale_t loc = Utf8Locale();
  return loc != static_cast<locale_t>(0) ? static_cast<uint32_t>(towupper_l(r, loc)) : r;
}

// unicode.ToTitle: the title-case digraphs differ from upper case.
uint32_t ToTitleRune(uint32_t r) {
  if (r >= 0x1C4 && r <= 0x1C6) return 0x1C5;
  if (r >= 0x1C7 && r <= 0x1C9) return 0x1C8;
  if (r >= 0x1CA && r <= 0x1CC) return 0x1CB;
  if (r >= 0x1F1 && r <= 0x1F3) return 0x1F2;
  return ToUpperRune(r);
}

uint32_t ToLowerRune(uint32_t r) {
  if (r < 0x80) return (r >= 'A' && r <= 'Z') ? r + 32 : r;
  locale_t loc = Utf8Locale();
  return loc != static_cast<locale_t>(0) ? static_cast<uint32_t>(towlower_l(r, loc)) : r;
}

// strings.ToUpper / ToLower: invalid UTF-8 bytes become U+FFFD, as Go's strings.Map does.
std::string MapRunes(std::string_view in, bool upper) {
  std::string s;
  s.reserve(in.size());
  bool ascii = true;
  for (unsigned char c : in) ascii = ascii && c < 0x80;
  for (size_t i = 0; i < in.size();) {
    size_t sz;
    uint32_t r = DecodeRune(in, i, &sz);
    if (ascii) {
      s.push_back(static_cast<char>(upper ? ToUpperRune(r) : ToLowerRune(r)));
    } else {
      AppendRune(&s, upper ? ToUpperRune(r) : ToLowerRune(r));
    }
    i += sz;
  }
  return s;
}

}  // namespace

void AddSprigFuncs(FuncMap* fm) {
  auto add = [&](const char* name, std::vector<ArgType> params, bool variadic, FuncImpl f) {
    fm->Add(name, FuncSig{std::move(params), variadic}, std::move(f));
  };
  using Args = std::span<Value>;
  // Defaults and flow.
  add("default", {A::kAny, A::kAny}, true, [](Args a) -> Result<Value> {
    if (a.size() < 2 || Empty(a[1])) return a[0];
    return a[1];
  });
  add("empty", {A::kAny}, false, [](Args a) -> Result<Value> { return Value(Empty(a[0])); });
  add("coalesce", {A::kAny}, true, [](Args a) -> Result<Value> {
    for (const Value& v : a) {
      if (!Empty(v)) return v;
    }
    return Value::Nil();
  });
  add("ternary", {A::kAny, A::kAny, A::kBool}, false,
      [](Args a) -> Result<Value> { return a[2].bool_value() ? a[0] : a[1]; });
  // Strings.
  add("join", {A::kString, A::kAny}, false,
      [](Args a) -> Result<Value> { return Str(Join(StrSlice(a[1]), a[0].string_value())); });
  add("split", {A::kString, A::kString}, false, [](Args a) -> Result<Value> {
    std::vector<std::pair<std::string, Value>> m;
    auto parts = Split(a[1].string_value(), a[0].string_value());
    for (size_t i = 0; i < parts.size(); ++i) m.emplace_back("_" + std::to_string(i), parts[i]);
    return Value::Map(std::move(m));
  });
  add("splitList", {A::kString, A::kString}, false, [](Args a) -> Result<Value> {
    return Value::StringList(Split(a[1].string_value(), a[0].string_value()));
  });
  add("replace", {A::kString, A::kString, A::kString}, false, [](Args a) -> Result<Value> {
    return Str(Replace(a[2].string_value(), a[0].string_value(), a[1].string_value()));
  });
  add("trim", {A::kString}, false, [](Args a) -> Result<Value> {
    return Str(TrimRunes(a[0].string_value(), IsGoSpace));
  });
  add("trimAll", {A::kString, A::kString}, false, [](Args a) -> Result<Value> {
    std::vector<uint32_t> cut = Runes(a[0].string_value());
    return Str(TrimRunes(a[1].string_value(), [&](uint32_t r) {
      return std::find(cut.begin(), cut.end(), r) != cut.end();
    }));
  });
  add("trimPrefix", {A::kString, A::kString}, false, [](Args a) -> Result<Value> {
    std::string_view s = a[1].string_value();
    if (s.starts_with(a[0].string_value())) s.remove_prefix(a[0].string_value().size());
    return Str(std::string(s));
  });
  add("trimSuffix", {A::kString, A::kString}, false, [](Args a) -> Result<Value> {
    std::string_view s = a[1].string_value();
    if (s.ends_with(a[0].string_value())) s.remove_suffix(a[0].string_value().size());
    return Str(std::string(s));
  });
  add("upper", {A::kString}, false, [](Args a) -> Result<Value> {
    return Str(MapRunes(a[0].string_value(), true));
  });
  add("lower", {A::kString}, false, [](Args a) -> Result<Value> {
    return Str(MapRunes(a[0].string_value(), false));
  });
  add("title", {A::kString}, false, [](Args a) -> Result<Value> {
    // strings.Title: upper-case letters that follow a separator (space, or ASCII that is not
    // a letter, digit or '_').
    const std::string& in = a[0].string_value();
    std::string s;
    bool prev_sep = true;
    for (size_t i = 0; i < in.size();) {
      size_t sz;
      uint32_t r = DecodeRune(in, i, &sz);
      bool sep;
      if (r < 0x80) {
        sep = !(isalnum(static_cast<int>(r)) || r == '_');
      } else {
        sep = IsGoSpace(r);
      }
      AppendRune(&s, prev_sep ? ToTitleRune(r) : r);  // strings.Map: bad bytes -> U+FFFD
      prev_sep = sep;
      i += sz;
    }
    return Str(std::move(s));
  });
  add("contains", {A::kString, A::kString}, false, [](Args a) -> Result<Value> {
    return Value(a[1].string_value().find(a[0].string_value()) != std::string::npos);
  });
  add("hasPrefix", {A::kString, A::kString}, false, [](Args a) -> Result<Value> {
    return Value(std::string_view(a[1].string_value()).starts_with(a[0].string_value()));
  });
  add("hasSuffix", {A::kString, A::kString}, false, [](Args a) -> Result<Value> {
    return Value(std::string_view(a[1].string_value()).ends_with(a[0].string_value()));
  });
  add("quote", {A::kAny}, true, [](Args a) -> Result<Value> {
    std::vector<std::string> out;
    for (const Value& v : a) {
      if (!v.IsNilOrInvalid()) out.push_back(GoQuote(StrVal(v)));
    }
    return Str(Join(out, " "));
  });
  add("squote", {A::kAny}, true, [](Args a) -> Result<Value> {
    std::vector<std::string> out;
    for (const Value& v : a) {
      if (!v.IsNilOrInvalid()) out.push_back("'" + FormatValue(v) + "'");
    }
    return Str(Join(out, " "));
  });
  add("cat", {A::kAny}, true, [](Args a) -> Result<Value> {
    std::vector<std::string> out;
    for (const Value& v : a) {
      if (!v.IsNilOrInvalid()) out.push_back(FormatValue(v));
    }
    return Str(Join(out, " "));
  });
  auto indent = [](int64_t n, const std::string& v) {
    std::string pad(n > 0 ? n : 0, ' ');
    return pad + Replace(v, "\n", "\n" + pad);
  };
  add("indent", {A::kInt, A::kString}, false, [indent](Args a) -> Result<Value> {
    return Str(indent(a[0].int_value(), a[1].string_value()));
  });
  add("nindent", {A::kInt, A::kString}, false, [indent](Args a) -> Result<Value> {
    return Str("\n" + indent(a[0].int_value(), a[1].string_value()));
  });
  add("repeat", {A::kInt, A::kString}, false, [](Args a) -> Result<Value> {
    if (a[0].int_value() < 0) return Err("strings: negative Repeat count");
    std::string out;
    for (int64_t i = 0; i < a[0].int_value(); ++i) out += a[1].string_value();
    return Str(std::move(out));
  });
  add("substr", {A::kInt, A::kInt, A::kString}, false, [](Args a) -> Result<Value> {
    int64_t start = a[0].int_value(), end = a[1].int_value();
    const std::string& s = a[2].string_value();
    int64_t len = static_cast<int64_t>(s.size());
    auto oob = [&](const std::string& what) {
      return Err("runtime error: slice bounds out of range " + what);
    };
    if (start < 0) {
      if (end < 0 || end > len) {
        return oob("[:" + std::to_string(end) + "] with length " + std::to_string(len));
      }
      return Str(s.substr(0, end));
    }
    if (end < 0 || end > len) {
      if (start > len) {
        return oob("[" + std::to_string(start) + ":" + std::to_string(len) + "]");
      }
      return Str(s.substr(start));
    }
    if (start > end) {
      return oob("[" + std::to_string(start) + ":" + std::to_string(end) + "]");
    }
    return Str(s.substr(start, end - start));
  });
  add("nospace", {A::kString}, false, [](Args a) -> Result<Value> {
    std::string out;
    const std::string& s = a[0].string_value();
    for (size_t i = 0; i < s.size();) {
      size_t sz;
      uint32_t r = DecodeRune(s, i, &sz);
      if (!IsGoSpace(r)) out.append(s, i, sz);
      i += sz;
    }
    return Str(std::move(out));
  });
  add("toString", {A::kAny}, false, [](Args a) -> Result<Value> { return Str(StrVal(a[0])); });
  add("atoi", {A::kString}, false,
      [](Args a) -> Result<Value> { return Value(Atoi(a[0].string_value())); });
  add("int", {A::kAny}, false, [](Args a) -> Result<Value> { return Value(ToInt64(a[0])); });
  // Lists and dicts.
  add("list", {A::kAny}, true, [](Args a) -> Result<Value> {
    ValueList l(a.begin(), a.end());
    return Value(std::move(l));
  });
  add("dict", {A::kAny}, true, [](Args a) -> Result<Value> {
    std::vector<std::pair<std::string, Value>> m;
    for (size_t i = 0; i < a.size(); i += 2) {
      m.emplace_back(StrVal(a[i]), i + 1 < a.size() ? a[i + 1] : Value(""));
    }
    return Value::Map(std::move(m));
  });
  add("get", {A::kMap, A::kString}, false, [](Args a) -> Result<Value> {
    const Value* v = a[0].Find(a[1].string_value());
    return v != nullptr ? v->Boxed() : Value("");
  });
  add("set", {A::kMap, A::kString, A::kAny}, false, [](Args a) -> Result<Value> {
    a[0].MapSet(a[1].string_value(), a[2]);
    return a[0];
  });
  add("hasKey", {A::kMap, A::kString}, false, [](Args a) -> Result<Value> {
    return Value(a[0].Find(a[1].string_value()) != nullptr);
  });
  add("keys", {A::kMap}, true, [](Args a) -> Result<Value> {
    // Go's order is random; we return keys sorted (per dict).
    std::vector<std::string> k;
    for (const Value& d : a) {
      for (const auto& e : d.map_data().entries) k.push_back(e.first);
    }
    return Value::StringList(std::move(k));
  });
  auto first_last = [](bool first) {
    return [first](Args a) -> Result<Value> {
      const Value& l = a[0];
      if (l.IsNilOrInvalid()) {
        return Err("runtime error: invalid memory address or nil pointer dereference");
      }
      if (l.kind() != Value::Kind::kList) {
        std::string kind = l.GoTypeName();
        if (l.kind() == Value::Kind::kMap) kind = l.is_struct() ? "struct" : "map";
        return Err(std::string("Cannot find ") + (first ? "first" : "last") + " on type " + kind);
      }
      if (l.list().empty()) return Value::Nil();
      return first ? l.list().front() : l.list().back();
    };
  };
  add("first", {A::kAny}, false, first_last(true));
  add("last", {A::kAny}, false, first_last(false));
  add("until", {A::kInt}, false, [](Args a) -> Result<Value> {
    int64_t n = a[0].int_value();
    ValueList l;
    if (n > 1000000 || n < -1000000) return Err("until: count too large");
    if (n >= 0) {
      for (int64_t i = 0; i < n; ++i) l.emplace_back(i);
    } else {
      for (int64_t i = 0; i > n; --i) l.emplace_back(i);
    }
    return Value(std::move(l));
  });
  add("append", {A::kAny, A::kAny}, false, [](Args a) -> Result<Value> {
    if (a[0].IsNilOrInvalid()) {
      return Err("runtime error: invalid memory address or nil pointer dereference");
    }
    if (a[0].kind() != Value::Kind::kList) {
      std::string kind = a[0].kind() == Value::Kind::kMap ? (a[0].is_struct() ? "struct" : "map")
                                                          : a[0].GoTypeName();
      return Err("Cannot push on type " + kind);
    }
    ValueList l = a[0].list();
    l.push_back(a[1]);
    return Value(std::move(l));
  });
  add("without", {A::kAny, A::kAny}, true, [](Args a) -> Result<Value> {
    if (a[0].IsNilOrInvalid()) {
      return Err("runtime error: invalid memory address or nil pointer dereference");
    }
    if (a[0].kind() != Value::Kind::kList) {
      std::string kind = a[0].kind() == Value::Kind::kMap ? (a[0].is_struct() ? "struct" : "map")
                                                          : a[0].GoTypeName();
      return Err("Cannot find without on type " + kind);
    }
    ValueList out;
    for (const Value& item : a[0].list()) {
      bool omit = false;
      for (size_t k = 1; k < a.size() && !omit; ++k) omit = DeepEqual(item, a[k]);
      if (!omit) out.push_back(item);
    }
    return Value(std::move(out));
  });
  add("sortAlpha", {A::kAny}, false, [](Args a) -> Result<Value> {
    if (a[0].kind() != Value::Kind::kList) return Value::StringList({StrVal(a[0])});
    std::vector<std::string> s = StrSlice(a[0]);
    std::sort(s.begin(), s.end());
    return Value::StringList(std::move(s));
  });
  // Arithmetic (int64 results, cast.ToInt64 conversions).
  add("add", {A::kAny}, true, [](Args a) -> Result<Value> {
    int64_t s = 0;
    for (const Value& v : a) s += ToInt64(v);
    return Value::Int64(s);
  });
  add("add1", {A::kAny}, false,
      [](Args a) -> Result<Value> { return Value::Int64(ToInt64(a[0]) + 1); });
  add("sub", {A::kAny, A::kAny}, false,
      [](Args a) -> Result<Value> { return Value::Int64(ToInt64(a[0]) - ToInt64(a[1])); });
  add("mul", {A::kAny, A::kAny}, true, [](Args a) -> Result<Value> {
    int64_t p = ToInt64(a[0]);
    for (size_t i = 1; i < a.size(); ++i) p *= ToInt64(a[i]);
    return Value::Int64(p);
  });
  add("div", {A::kAny, A::kAny}, false, [](Args a) -> Result<Value> {
    int64_t d = ToInt64(a[1]);
    if (d == 0) return Err("runtime error: integer divide by zero");
    return Value::Int64(ToInt64(a[0]) / d);
  });
  add("mod", {A::kAny, A::kAny}, false, [](Args a) -> Result<Value> {
    int64_t d = ToInt64(a[1]);
    if (d == 0) return Err("runtime error: integer divide by zero");
    return Value::Int64(ToInt64(a[0]) % d);
  });
  // Encoding.
  add("b64enc", {A::kString}, false,
      [](Args a) -> Result<Value> { return Str(B64Enc(a[0].string_value())); });
  add("b64dec", {A::kString}, false,
      [](Args a) -> Result<Value> { return Str(B64Dec(a[0].string_value())); });
  add("sha256sum", {A::kString}, false,
      [](Args a) -> Result<Value> { return Str(Sha256Hex(a[0].string_value())); });
  add("toJson", {A::kAny}, false, [](Args a) -> Result<Value> {
    auto j = ValueToJson(a[0]);
    return Str(j.ok() ? *j : std::string());
  });
  // Regular expressions.
  add("regexMatch", {A::kString, A::kString}, false, [](Args a) -> Result<Value> {
    Regex re;
    if (!re.Compile(a[0].string_value()).ok()) return Value(false);
    std::vector<regmatch_t> m;
    return Value(re.Exec(a[1].string_value(), 0, &m, false));
  });
  add("regexReplaceAll", {A::kString, A::kString, A::kString}, false,
      [](Args a) -> Result<Value> {
        Regex re;
        SW_RETURN_IF_ERROR(re.Compile(a[0].string_value()));
        const std::string& s = a[1].string_value();
        std::string out;
        std::vector<regmatch_t> m;
        size_t pos = 0, copied = 0;
        size_t last_match_end = std::string::npos;
        while (pos <= s.size() && re.Exec(s, pos, &m, pos > 0)) {
          size_t so = m[0].rm_so, eo = m[0].rm_eo;
          if (so == eo && so == last_match_end) {
            // Go skips an empty match right after the previous match.
            if (pos >= s.size()) break;
            pos = so + 1;
            continue;
          }
          out.append(s, copied, so - copied);
          Expand(&out, a[2].string_value(), s, m);
          copied = eo;
          last_match_end = eo;
          if (eo == so) {
            if (so >= s.size()) break;
            size_t sz;
            DecodeRune(s, so, &sz);
            out.append(s, so, sz);
            copied = so + sz;
            pos = so + sz;
          } else {
            pos = eo;
          }
        }
        if (copied < s.size()) out.append(s, copied, std::string::npos);
        return Str(std::move(out));
      });
  add("regexSplit", {A::kString, A::kString, A::kInt}, false, [](Args a) -> Result<Value> {
    // regexp.(*Regexp).Split.
    Regex re;
    SW_RETURN_IF_ERROR(re.Compile(a[0].string_value()));
    const std::string& s = a[1].string_value();
    int64_t n = a[2].int_value();
    if (n == 0) return Value::StringList({});
    if (!a[0].string_value().empty() && s.empty()) return Value::StringList({""});
    std::vector<std::pair<size_t, size_t>> matches = FindAllIndex(re, s, n);
    std::vector<std::string> out;
    size_t beg = 0, end = 0;
    for (const auto& [so, eo] : matches) {
      if (n > 0 && static_cast<int64_t>(out.size()) == n - 1) break;
      end = so;
      if (eo != 0) out.push_back(s.substr(beg, end - beg));
      beg = eo;
    }
    if (end != s.size()) out.push_back(s.substr(beg));
    return Value::StringList(std::move(out));
  });
  // Dates.
  add("now", {}, false, [](Args) -> Result<Value> {
    return Value::Int64(static_cast<int64_t>(time(nullptr)));
  });
  add("date", {A::kString, A::kAny}, false, [](Args a) -> Result<Value> {
    time_t t = a[1].kind() == Value::Kind::kInt ? static_cast<time_t>(a[1].int_value())
                                                : time(nullptr);
    return Str(GoDateFormat(a[0].string_value(), t));
  });
}

std::shared_ptr<const MethodSet> WWBoolMethods() {
  static const std::shared_ptr<const MethodSet> kSet = [] {
    auto lower = [](const Value& v) {
      std::string s = v.kind() == Value::Kind::kString ? v.string_value() : std::string();
      for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
      return s;
    };
    auto is_unset = [](const std::string& s) {
      return s == "unset" || s == "delete" || s == "undef" || s == "--" || s == "nil" ||
             s == "0.0.0.0";
    };
    // strconv.ParseBool.
    auto parse_bool = [](const std::string& s, bool* b) {
      static const char* const kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
      static const char* const kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
      for (const char* t : kTrue) {
        if (s == t) return *b = true, true;
      }
      for (const char* f : kFalse) {
        if (s == f) return *b = false, true;
      }
      return false;
    };
    auto set = std::make_shared<MethodSet>();
    set->type_name = "wwtype.WWbool";
    set->methods.push_back(
        {"Bool", FuncSig{{}, false},
         [=](const Value& recv, std::span<Value>) -> Result<Value> {
           std::string s = lower(recv);
           if (is_unset(s)) return Value(false);
           if (s == "yes") return Value(true);
           if (s == "no" || s.empty()) return Value(false);
           bool b;
           return Value(parse_bool(s, &b) && b);
         }});
    set->methods.push_back(
        {"BoolDefaultTrue", FuncSig{{}, false},
         [=](const Value& recv, std::span<Value>) -> Result<Value> {
           std::string s = lower(recv);
           if (is_unset(s)) return Value(false);
           if (s == "yes" || s.empty()) return Value(true);
           if (s == "no") return Value(false);
           bool b;
           return Value(parse_bool(s, &b) ? b : true);
         }});
    set->methods.push_back({"String", FuncSig{{}, false},
                            [](const Value& recv, std::span<Value>) -> Result<Value> {
                              return Value(recv.kind() == Value::Kind::kString
                                               ? recv.string_value()
                                               : std::string());
                            }});
    set->methods.push_back({"Type", FuncSig{{}, false},
                            [](const Value&, std::span<Value>) -> Result<Value> {
                              return Value("WWbool");
                            }});
    return set;
  }();
  return kSet;
}

void AddWarewulfFuncs(FuncMap* fm) {
  using Args = std::span<Value>;
  fm->Add("basename", FuncSig{{A::kString}, false},
          [](Args a) -> Result<Value> { return Str(Basename(a[0].string_value())); });
  fm->Add("inc", FuncSig{{A::kInt}, false},
          [](Args a) -> Result<Value> { return Value(a[0].int_value() + 1); });
  fm->Add("dec", FuncSig{{A::kInt}, false},
          [](Args a) -> Result<Value> { return Value(a[0].int_value() - 1); });
  fm->Add("UniqueField", FuncSig{{A::kString, A::kInt, A::kString}, false},
          [](Args a) -> Result<Value> {
            return Str(UniqueField(a[0].string_value(), a[1].int_value(), a[2].string_value()));
          });
  fm->Add("SystemdEscape", FuncSig{{A::kString}, false},
          [](Args a) -> Result<Value> { return Str(SystemdEscape(a[0].string_value(), false)); });
  fm->Add("SystemdEscapePath", FuncSig{{A::kString}, false},
          [](Args a) -> Result<Value> { return Str(SystemdEscape(a[0].string_value(), true)); });
}

}  // namespace sw::tmpl
