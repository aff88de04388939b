// tmpl/value.cc: Value construction, lookup and Go type names.
#include <algorithm>
#include <cstddef>

#include "tmpl/value.h"

namespace sw::tmpl {
namespace {
using Entry = std::pair<std::string, Value>;
}  // namespace

Value::Value(std::string s) : kind_(Kind::kString) {
  ptr_ = std::make_shared<const std::string>(std::move(s));
}

Value::Value(ValueList l) : kind_(Kind::kList) {
  ptr_ = std::make_shared<const ValueList>(std::move(l));
}

Value Value::StringList(std::vector<std::string> items) {
  ValueList l;
  l.reserve(items.size());
  for (auto& s : items) l.emplace_back(std::move(s));
  Value v(std::move(l));
  v.typed_list_ = true;
  return v;
}

Value Value::Map(std::vector<std::pair<std::string, Value>> entries) {
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  // Later duplicates win.
  std::vector<std::pair<std::string, Value>> uniq;
  uniq.reserve(entries.size());
  for (auto& e : entries) {
    if (!uniq.empty() && uniq.back().first == e.first) {
      uniq.back().second = std::move(e.second);
    } else {
      uniq.push_back(std::move(e));
    }
  }
  auto m = std::make_shared<MapData>();
  m->entries = std::move(uniq);
  Value v;
  v.kind_ = Kind::kMap;
  v.ptr_ = std::move(m);
  return v;
}

Value Value::Map(std::map<std::string, Value> entries) {
  auto m = std::make_shared<MapData>();
  m->entries.reserve(entries.size());
  for (auto& [k, val] : entries) m->entries.emplace_back(k, std::move(val));
  Value v;
  v.kind_ = Kind::kMap;
  v.ptr_ = std::move(m);
  return v;
}

Value Value::Struct(std::vector<std::pair<std::string, Value>> fields) {
  auto m = std::make_shared<MapData>();
  m->entries = std::move(fields);
  m->is_struct = true;
  Value v;
  v.kind_ = Kind::kMap;
  v.ptr_ = std::move(m);
  return v;
}

Value Value::Function(std::shared_ptr<const Func> f) {
  Value v;
  v.kind_ = Kind::kFunc;
  v.ptr_ = std::move(f);
  return v;
}

Value Value::WithMethods(std::shared_ptr<const MethodSet> m) const {
  Value v = *this;
  std::shared_ptr<const void> payload =
      named_ ? static_cast<const Named*>(ptr_.get())->payload : ptr_;
  if (m == nullptr) {
    v.ptr_ = std::move(payload);
    v.named_ = false;
    return v;
  }
  auto box = std::make_shared<Named>();
  box->payload = std::move(payload);
  box->methods = std::move(m);
  v.ptr_ = std::move(box);
  v.named_ = true;
  return v;
}

const Value* Value::Find(std::string_view key) const {
  const MapData& m = map_data();
  if (m.is_struct) {
    for (const auto& e : m.entries) {
      if (e.first == key) return &e.second;
    }
    return nullptr;
  }
  auto it = std::lower_bound(m.entries.begin(), m.entries.end(), key,
                             [](const auto& e, std::string_view k) { return e.first < k; });
  if (it != m.entries.end() && it->first == key) return &it->second;
  return nullptr;
}

const Value* Value::Find(std::string_view key, std::atomic<uint32_t>* hint) const {
  const auto& e = map_data().entries;
  uint32_t h = hint->load(std::memory_order_relaxed);
  if (h < e.size() && e[h].first == key) return &e[h].second;
  const Value* r = Find(key);
  if (r != nullptr) {
    // entries[i].second lives inside entries[i]; recover i from the pair's address.
    size_t i = static_cast<size_t>(
        reinterpret_cast<const std::pair<std::string, Value>*>(
            reinterpret_cast<const char*>(r) - offsetof(Entry, second)) -
        e.data());
    hint->store(static_cast<uint32_t>(i), std::memory_order_relaxed);
  }
  return r;
}

void Value::MapSet(const std::string& key, Value v) const {
  MapData& m = MutableMap();
  if (m.is_struct) {
    for (auto& e : m.entries) {
      if (e.first == key) {
        e.second = std::move(v);
        return;
      }
    }
    m.entries.emplace_back(key, std::move(v));
    return;
  }
  auto it = std::lower_bound(m.entries.begin(), m.entries.end(), key,
                             [](const auto& e, const std::string& k) { return e.first < k; });
  if (it != m.entries.end() && it->first == key) {
    it->second = std::move(v);
  } else {
    m.entries.insert(it, {key, std::move(v)});
  }
}

size_t Value::Size() const {
  switch (kind_) {
    case Kind::kString:
      return string_value().size();
    case Kind::kList:
      return list().size();
    case Kind::kMap:
      return map_data().entries.size();
    default:
      return 0;
  }
}

std::string Value::GoTypeName(bool want_static) const {
  if (want_static && boxed_) return "interface {}";
  if (const MethodSet* m = methods();
      m != nullptr && !m->type_name.empty() && kind_ != Kind::kNil && kind_ != Kind::kInvalid) {
    return m->type_name;
  }
  switch (kind_) {
    case Kind::kInvalid:
      return "<nil>";
    case Kind::kNil:
      return "interface {}";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return int64_ ? "int64" : "int";
    case Kind::kUint:
      return int64_ ? "uint8" : "uint";
    case Kind::kFloat:
      return "float64";
    case Kind::kString:
      return "string";
    case Kind::kList:
      return typed_list_ ? "[]string" : "[]interface {}";
    case Kind::kMap: {
      const MapData& m = map_data();
      if (!m.is_struct) return "map[string]interface {}";
      if (m.entries.empty()) return "struct {}";
      std::string s = "struct { ";
      for (size_t i = 0; i < m.entries.size(); ++i) {
        if (i > 0) s += "; ";
        s += m.entries[i].first + " interface {}";
      }
      return s + " }";
    }
    case Kind::kFunc:
      return "func(...interface {}) (interface {}, error)";
  }
  return "?";
}

bool Value::Truth() const {
  switch (kind_) {
    case Kind::kInvalid:
    case Kind::kNil:
      return false;
    case Kind::kBool:
      return u_.b;
    case Kind::kInt:
      return u_.i != 0;
    case Kind::kUint:
      return u_.u != 0;
    case Kind::kFloat:
      return u_.f != 0;
    case Kind::kString:
      return !string_value().empty();
    case Kind::kList:
      return !list().empty();
    case Kind::kMap:
      return map_data().is_struct || !map_data().entries.empty();
    case Kind::kFunc:
      return true;
  }
  return false;
}

}  // namespace sw::tmpl
