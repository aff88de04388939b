// tmpl/value.h: the dynamic Value that templates walk over, modelled on the Go values that
// text/template sees when Warewulf renders overlays (maps, slices, structs, scalars, functions).
//
// A Value is small (16 bytes of payload plus a shared pointer) and cheap to copy: strings, lists,
// maps and functions are shared, reference-counted and treated as immutable, except through
// Value::MutableMap (Sprig's `set`, which mutates a dict in place as Go maps do).
//
// Go distinctions that matter to template semantics are kept:
//   - kInvalid is Go's zero reflect.Value ("<no value>": a missing map key, nil data);
//   - kNil is a nil stored inside a container (an `interface{}` holding nil);
//   - "boxed" marks a value read out of a container whose static type is interface{}; the
//     executor uses it only to reproduce Go's error texts and nil-indirection rules;
//   - maps are either "map" flavour (sorted keys, %v prints `map[k:v]`) or "struct" flavour
//     (declaration order, %v prints `{v1 v2}`, a missing field is an error);
//   - ints are Go `int` unless created with Int64() (Sprig arithmetic returns int64, and Go's
//     type checks tell them apart).
//
// Thread-safety: Values are immutable after construction (except MutableMap) and may be shared
// across threads for reading; reference counts are atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace sw::tmpl {

class Value;
using ValueList = std::vector<Value>;

// Parameter types of a template function, mirroring the Go parameter types that matter for
// text/template's argument conversion and type errors.
enum class ArgType : uint8_t {
  kAny,         // interface{}: a missing value becomes nil
  kReflect,     // reflect.Value (builtins): the value is passed as is, missing stays missing
  kString,      // string
  kInt,         // int
  kInt64,       // int64
  kFloat,       // float64
  kBool,        // bool
  kList,        // []interface{}
  kStringList,  // []string
  kMap,         // map[string]interface{}
};

struct FuncSig {
  std::vector<ArgType> params;  // when variadic, the last entry is the element type
  bool variadic = false;
  // Go's function type as printed by %v / in errors; optional.
};

using FuncImpl = std::function<Result<Value>(std::span<Value> args)>;

struct Func {
  std::string name;
  FuncSig sig;
  FuncImpl impl;
};

// Methods of a Go named type (e.g. Warewulf's wwtype.WWbool with Bool()/BoolDefaultTrue()).
// A Value carrying a MethodSet behaves like a value of that type: `.Name` calls the method
// (methods take precedence over map keys/struct fields, as in Go), its Go type name is
// type_name, it is not assignable to basic parameter types, and a zero-argument "String"
// method is used when printing (Go's fmt.Stringer).
struct Method {
  std::string name;
  FuncSig sig;  // parameters after the receiver
  std::function<Result<Value>(const Value& receiver, std::span<Value> args)> impl;
};
struct MethodSet {
  std::string type_name;  // e.g. "wwtype.WWbool"
  std::vector<Method> methods;
  const Method* Find(std::string_view name) const {
    for (const auto& m : methods) {
      if (m.name == name) return &m;
    }
    return nullptr;
  }
};

struct MapData {
  // Map flavour: sorted by key, unique. Struct flavour: declaration order.
  std::vector<std::pair<std::string, Value>> entries;
  bool is_struct = false;
  // Go type name for the struct flavour, computed lazily by GoTypeName().
};

class Value {
 public:
  enum class Kind : uint8_t {
    kInvalid,
    kNil,
    kBool,
    kInt,
    kUint,
    kFloat,
    kString,
    kList,
    kMap,
    kFunc,
  };

  Value() : kind_(Kind::kInvalid) {}
  Value(bool b) : kind_(Kind::kBool) { u_.b = b; }          // NOLINT
  Value(int i) : kind_(Kind::kInt) { u_.i = i; }            // NOLINT
  Value(int64_t i) : kind_(Kind::kInt) { u_.i = i; }        // NOLINT
  Value(double f) : kind_(Kind::kFloat) { u_.f = f; }       // NOLINT
  Value(const char* s) : Value(std::string(s)) {}           // NOLINT
  Value(std::string_view s) : Value(std::string(s)) {}      // NOLINT
  Value(std::string s);                                     // NOLINT
  Value(ValueList l);                                       // NOLINT

  static Value Nil() {
    Value v;
    v.kind_ = Kind::kNil;
    v.boxed_ = true;
    return v;
  }
  static Value Int64(int64_t i) {
    Value v(i);
    v.int64_ = true;
    return v;
  }
  static Value Uint(uint64_t u) {
    Value v;
    v.kind_ = Kind::kUint;
    v.u_.u = u;
    return v;
  }
  // Go's uint8 (a byte, what `index` of a string yields).
  static Value Uint8(uint8_t u) {
    Value v = Uint(u);
    v.int64_ = true;  // for kUint the flag marks uint8
    return v;
  }
  // []string: elements are unboxed strings.
  static Value StringList(std::vector<std::string> items);
  // A map from a sorted or unsorted list of pairs (later duplicates win).
  static Value Map(std::vector<std::pair<std::string, Value>> entries);
  static Value Map(std::map<std::string, Value> entries);
  // A struct: fields in declaration order; names should be unique.
  static Value Struct(std::vector<std::pair<std::string, Value>> fields);
  static Value Function(std::shared_ptr<const Func> f);
  // A copy of this value as a value of a named type with methods (nullptr: plain value).
  Value WithMethods(std::shared_ptr<const MethodSet> m) const;
  // nullptr for plain values. Valid while this Value lives.
  const MethodSet* methods() const {
    return named_ ? static_cast<const Named*>(ptr_.get())->methods.get() : nullptr;
  }

  Kind kind() const { return kind_; }
  bool IsValid() const { return kind_ != Kind::kInvalid; }
  bool IsNilOrInvalid() const { return kind_ == Kind::kInvalid || kind_ == Kind::kNil; }
  bool boxed() const { return boxed_; }
  bool is_int64() const { return int64_; }  // kInt: int64; kUint: uint8
  bool is_struct() const { return kind_ == Kind::kMap && map_data().is_struct; }
  bool is_string_list() const { return kind_ == Kind::kList && typed_list_; }

  // A copy marked as read out of an interface{} container (kNil is always boxed).
  Value Boxed() const {
    Value v = *this;
    v.boxed_ = true;
    return v;
  }
  // In-place Unboxed().
  void Unbox() {
    if (kind_ == Kind::kNil) {
      *this = Value();
    } else {
      boxed_ = false;
    }
  }
  // Go's reflect.ValueOf(v.Interface()): drops the box; a boxed nil becomes kInvalid.
  Value Unboxed() const {
    if (kind_ == Kind::kNil) return Value();
    Value v = *this;
    v.boxed_ = false;
    return v;
  }

  // REQUIRES: the matching kind.
  bool bool_value() const { return u_.b; }
  int64_t int_value() const { return u_.i; }
  uint64_t uint_value() const { return u_.u; }
  double float_value() const { return u_.f; }
  // Valid while this Value (or a copy) lives.
  const std::string& string_value() const { return *static_cast<const std::string*>(Raw()); }
  const ValueList& list() const { return *static_cast<const ValueList*>(Raw()); }
  const MapData& map_data() const { return *static_cast<const MapData*>(Raw()); }
  const Func& func() const { return *static_cast<const Func*>(Raw()); }
  // Shares the underlying map: changes are seen by every copy (Go map semantics).
  MapData& MutableMap() const { return *static_cast<MapData*>(const_cast<void*>(Raw())); }

  // Map/struct lookup. Returns nullptr when absent. REQUIRES: kind() == kMap.
  const Value* Find(std::string_view key) const;
  // As Find, trying entry *hint first and storing the index found there (an inline cache for
  // executors: sibling structs/maps usually have the same layout). Thread-safe (relaxed).
  const Value* Find(std::string_view key, std::atomic<uint32_t>* hint) const;
  // Map: insert or replace keeping sort order; struct: replace or append. Shared (see above).
  void MapSet(const std::string& key, Value v) const;
  // Element i of a list, boxed unless this is a []string. REQUIRES: i < size.
  Value ListAt(size_t i) const {
    const Value& e = list()[i];
    return typed_list_ ? e : e.Boxed();
  }
  // Number of elements (list, map) or bytes (string); 0 otherwise.
  size_t Size() const;

  // Go's type name ("int", "string", "[]interface {}", "map[string]interface {}",
  // "struct { A interface {} }", ...). Boxed values report "interface {}" when want_static.
  std::string GoTypeName(bool want_static = false) const;

  // Go's template truth: false, 0, nil, empty string/list/map are false; structs are true.
  bool Truth() const;

 private:
  Kind kind_;
  bool boxed_ = false;
  bool int64_ = false;
  bool typed_list_ = false;
  bool named_ = false;
  union {
    bool b;
    int64_t i;
    uint64_t u;
    double f;
  } u_{};
  // A value of a named type keeps its payload and methods in a Named box behind ptr_, so plain
  // values stay 32 bytes (the hot path of rendering 10,000 nodes is memory-bound).
  struct Named {
    std::shared_ptr<const void> payload;
    std::shared_ptr<const MethodSet> methods;
  };
  const void* Raw() const {
    return named_ ? static_cast<const Named*>(ptr_.get())->payload.get() : ptr_.get();
  }

  std::shared_ptr<const void> ptr_;
};

// Go's fmt.Sprint of one value with the %v verb (as `{{.}}` prints, minus "<no value>").
std::string FormatValue(const Value& v);

}  // namespace sw::tmpl
