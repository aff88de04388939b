// tmpl/builtins.cc: text/template's builtin functions with Go 1.19's semantics and error texts.
#include <cstring>

#include "tmpl/ast.h"

namespace sw::tmpl {
namespace {

enum class BasicKind { kInvalid, kBool, kInt, kUint, kFloat, kString };

BasicKind KindOf(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kBool:
      return BasicKind::kBool;
    case Value::Kind::kInt:
      return BasicKind::kInt;
    case Value::Kind::kUint:
      return BasicKind::kUint;
    case Value::Kind::kFloat:
      return BasicKind::kFloat;
    case Value::Kind::kString:
      return BasicKind::kString;
    default:
      return BasicKind::kInvalid;
  }
}

// indirectInterface: a boxed value becomes its content; a boxed nil becomes invalid.
Value Indirect(const Value& v) { return v.Unboxed(); }

Status Err(std::string msg) { return Status::InvalidArgument(msg); }

// Go's == on interface values holding our kinds (structs compare field by field).
Result<bool> DeepEqualComparable(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) {
    bool an = a.IsNilOrInvalid(), bn = b.IsNilOrInvalid();
    if (an && bn) return true;
    if ((a.kind() == Value::Kind::kInt && b.kind() == Value::Kind::kInt)) {
      return a.is_int64() == b.is_int64() && a.int_value() == b.int_value();
    }
    return false;
  }
  switch (a.kind()) {
    case Value::Kind::kInvalid:
    case Value::Kind::kNil:
      return true;
    case Value::Kind::kBool:
      return a.bool_value() == b.bool_value();
    case Value::Kind::kInt:
      return a.is_int64() == b.is_int64() && a.int_value() == b.int_value();
    case Value::Kind::kUint:
      return a.uint_value() == b.uint_value();
    case Value::Kind::kFloat:
      return a.float_value() == b.float_value();
    case Value::Kind::kString:
      return a.string_value() == b.string_value();
    case Value::Kind::kList:
    case Value::Kind::kFunc:
      return Err("runtime error: comparing uncomparable type " + a.GoTypeName());
    case Value::Kind::kMap: {
      if (!a.is_struct()) {
        return Err("runtime error: comparing uncomparable type " + a.GoTypeName());
      }
      if (a.GoTypeName() != b.GoTypeName()) return false;
      const auto& ea = a.map_data().entries;
      const auto& eb = b.map_data().entries;
      for (size_t i = 0; i < ea.size(); ++i) {
        SW_ASSIGN_OR_RETURN(bool eq, DeepEqualComparable(ea[i].second, eb[i].second));
        if (!eq) return false;
      }
      return true;
    }
  }
  return false;
}

Result<bool> Eq(const Value& a1_in, std::span<const Value> rest) {
  Value arg1 = Indirect(a1_in);
  if (rest.empty()) return Err("missing argument for comparison");
  BasicKind k1 = KindOf(arg1);
  for (const Value& a_in : rest) {
    Value arg = Indirect(a_in);
    BasicKind k2 = KindOf(arg);
    bool truth = false;
    if (k1 != k2) {
      if (k1 == BasicKind::kInt && k2 == BasicKind::kUint) {
        truth = arg1.int_value() >= 0 && static_cast<uint64_t>(arg1.int_value()) ==
                                             arg.uint_value();
      } else if (k1 == BasicKind::kUint && k2 == BasicKind::kInt) {
        truth = arg.int_value() >= 0 &&
                arg1.uint_value() == static_cast<uint64_t>(arg.int_value());
      } else if (arg1.IsValid() && arg.IsValid()) {
        return Err("incompatible types for comparison");
      }
    } else {
      switch (k1) {
        case BasicKind::kBool:
          truth = arg1.bool_value() == arg.bool_value();
          break;
        case BasicKind::kFloat:
          truth = arg1.float_value() == arg.float_value();
          break;
        case BasicKind::kInt:
          truth = arg1.int_value() == arg.int_value();
          break;
        case BasicKind::kString:
          truth = arg1.string_value() == arg.string_value();
          break;
        case BasicKind::kUint:
          truth = arg1.uint_value() == arg.uint_value();
          break;
        case BasicKind::kInvalid: {
          auto rkind = [](const Value& v) {
            return v.kind() == Value::Kind::kMap && v.is_struct() ? 100 : static_cast<int>(v.kind());
          };
          bool can_compare = rkind(arg1) == rkind(arg) || !arg1.IsValid() || !arg.IsValid();
          if (!can_compare) {
            return Err("non-comparable types " + GoSprintf("%s", std::span<const Value>(&arg1, 1)) +
                       ": " + arg1.GoTypeName() + ", " + arg.GoTypeName() + ": " +
                       FormatValue(arg));
          }
          if (!arg1.IsValid() || !arg.IsValid()) {
            truth = !arg1.IsValid() == !arg.IsValid();
          } else {
            if (arg.kind() == Value::Kind::kList ||
                (arg.kind() == Value::Kind::kMap && !arg.is_struct()) ||
                arg.kind() == Value::Kind::kFunc) {
              return Err("non-comparable type " + GoSprintf("%s", std::span<const Value>(&arg, 1)) +
                         ": " + arg.GoTypeName());
            }
            SW_ASSIGN_OR_RETURN(truth, DeepEqualComparable(arg1, arg));
          }
          break;
        }
      }
    }
    if (truth) return true;
  }
  return false;
}

Result<bool> Lt(const Value& a, const Value& b) {
  Value arg1 = Indirect(a);
  BasicKind k1 = KindOf(arg1);
  if (k1 == BasicKind::kInvalid) return Err("invalid type for comparison");
  Value arg2 = Indirect(b);
  BasicKind k2 = KindOf(arg2);
  if (k2 == BasicKind::kInvalid) return Err("invalid type for comparison");
  if (k1 != k2) {
    if (k1 == BasicKind::kInt && k2 == BasicKind::kUint) {
      return arg1.int_value() < 0 || static_cast<uint64_t>(arg1.int_value()) < arg2.uint_value();
    }
    if (k1 == BasicKind::kUint && k2 == BasicKind::kInt) {
      return arg2.int_value() >= 0 && arg1.uint_value() < static_cast<uint64_t>(arg2.int_value());
    }
    return Err("incompatible types for comparison");
  }
  switch (k1) {
    case BasicKind::kBool:
      return Err("invalid type for comparison");
    case BasicKind::kFloat:
      return arg1.float_value() < arg2.float_value();
    case BasicKind::kInt:
      return arg1.int_value() < arg2.int_value();
    case BasicKind::kString:
      return arg1.string_value() < arg2.string_value();
    case BasicKind::kUint:
      return arg1.uint_value() < arg2.uint_value();
    default:
      return Err("invalid type for comparison");
  }
}

Result<bool> Le(const Value& a, const Value& b) {
  SW_ASSIGN_OR_RETURN(bool lt, Lt(a, b));
  if (lt) return true;
  return Eq(a, std::span<const Value>(&b, 1));
}

// REQUIRES for `index`: the caller unboxed the value (Go's index does, slice does not, so a
// boxed index reaches here as "interface {}").
Result<int64_t> IndexArg(const Value& index, size_t cap) {
  if (index.boxed()) return Err("cannot index slice/array with type interface {}");
  int64_t x;
  switch (index.kind()) {
    case Value::Kind::kInt:
      x = index.int_value();
      break;
    case Value::Kind::kUint:
      x = static_cast<int64_t>(index.uint_value());
      break;
    case Value::Kind::kInvalid:
      return Err("cannot index slice/array with nil");
    default:
      return Err("cannot index slice/array with type " + index.GoTypeName());
  }
  if (x < 0 || static_cast<uint64_t>(x) > cap) {
    return Err("index out of range: " + std::to_string(x));
  }
  return x;
}

Result<Value> Index(std::span<Value> args) {
  Value item = Indirect(args[0]);
  if (!item.IsValid()) return Err("index of untyped nil");
  for (size_t i = 1; i < args.size(); ++i) {
    Value index = Indirect(args[i]);
    if (item.kind() == Value::Kind::kNil) return Err("index of nil pointer");
    item = item.Unboxed();
    switch (item.kind()) {
      case Value::Kind::kList: {
        SW_ASSIGN_OR_RETURN(int64_t x, IndexArg(index, item.list().size()));
        if (static_cast<size_t>(x) >= item.list().size()) {
          return Err("reflect: slice index out of range");
        }
        item = item.ListAt(x);
        break;
      }
      case Value::Kind::kString: {
        SW_ASSIGN_OR_RETURN(int64_t x, IndexArg(index, item.string_value().size()));
        if (static_cast<size_t>(x) >= item.string_value().size()) {
          return Err("reflect: string index out of range");
        }
        item = Value::Uint8(static_cast<unsigned char>(item.string_value()[x]));
        break;
      }
      case Value::Kind::kMap: {
        if (item.is_struct()) return Err("can't index item of type " + item.GoTypeName());
        if (!index.IsValid()) return Err("value is nil; should be of type string");
        if (index.kind() != Value::Kind::kString) {
          return Err("value has type " + index.GoTypeName() + "; should be string");
        }
        const Value* f = item.Find(index.string_value());
        item = f != nullptr ? f->Boxed() : Value::Nil();
        break;
      }
      default:
        return Err("can't index item of type " + item.GoTypeName());
    }
  }
  return item;
}

Result<Value> Slice(std::span<Value> args) {
  Value item = Indirect(args[0]);
  if (!item.IsValid()) return Err("slice of untyped nil");
  size_t nidx = args.size() - 1;
  if (nidx > 3) return Err("too many slice indexes: " + std::to_string(nidx));
  size_t cap;
  if (item.kind() == Value::Kind::kString) {
    if (nidx == 3) return Err("cannot 3-index slice a string");
    cap = item.string_value().size();
  } else if (item.kind() == Value::Kind::kList) {
    cap = item.list().size();
  } else {
    return Err("can't slice item of type " + item.GoTypeName());
  }
  int64_t idx[3] = {0, static_cast<int64_t>(item.Size()), 0};
  for (size_t i = 0; i < nidx; ++i) {
    SW_ASSIGN_OR_RETURN(idx[i], IndexArg(args[i + 1], cap));
  }
  if (idx[0] > idx[1]) {
    return Err("invalid slice index: " + std::to_string(idx[0]) + " > " + std::to_string(idx[1]));
  }
  if (nidx == 3 && idx[1] > idx[2]) {
    return Err("invalid slice index: " + std::to_string(idx[1]) + " > " + std::to_string(idx[2]));
  }
  if (item.kind() == Value::Kind::kString) {
    return Value(item.string_value().substr(idx[0], idx[1] - idx[0]));
  }
  const ValueList& l = item.list();
  if (item.is_string_list()) {
    std::vector<std::string> out;
    for (int64_t i = idx[0]; i < idx[1]; ++i) out.push_back(l[i].string_value());
    return Value::StringList(std::move(out));
  }
  return Value(ValueList(l.begin() + idx[0], l.begin() + idx[1]));
}

// evalArgs of text/template: one string argument is used as is; otherwise fmt.Sprint with
// missing values shown as "<no value>".
std::string EvalArgs(std::span<Value> args) {
  if (args.size() == 1 && args[0].kind() == Value::Kind::kString) return args[0].string_value();
  std::vector<Value> vals;
  vals.reserve(args.size());
  for (const Value& a : args) {
    vals.push_back(a.IsNilOrInvalid() ? Value("<no value>") : a);
  }
  return GoSprint(vals);
}

struct BuiltinEntry {
  const char* name;
  FuncSig sig;
};

const BuiltinEntry* Table() {
  using A = ArgType;
  static const BuiltinEntry kTable[kBuiltinCount] = {
      {"and", {{A::kReflect, A::kReflect}, true}},
      {"or", {{A::kReflect, A::kReflect}, true}},
      {"not", {{A::kReflect}, false}},
      {"eq", {{A::kReflect, A::kReflect}, true}},
      {"ne", {{A::kReflect, A::kReflect}, false}},
      {"lt", {{A::kReflect, A::kReflect}, false}},
      {"le", {{A::kReflect, A::kReflect}, false}},
      {"gt", {{A::kReflect, A::kReflect}, false}},
      {"ge", {{A::kReflect, A::kReflect}, false}},
      {"len", {{A::kReflect}, false}},
      {"index", {{A::kReflect, A::kReflect}, true}},
      {"slice", {{A::kReflect, A::kReflect}, true}},
      {"print", {{A::kAny}, true}},
      {"printf", {{A::kString, A::kAny}, true}},
      {"println", {{A::kAny}, true}},
      {"html", {{A::kAny}, true}},
      {"js", {{A::kAny}, true}},
      {"urlquery", {{A::kAny}, true}},
      {"call", {{A::kReflect, A::kReflect}, true}},
  };
  return kTable;
}

}  // namespace

int LookupBuiltin(std::string_view name) {
  const BuiltinEntry* t = Table();
  for (int i = 0; i < kBuiltinCount; ++i) {
    if (name == t[i].name) return i;
  }
  return -1;
}

const FuncSig& BuiltinSig(int id) { return Table()[id].sig; }

Result<Value> CallBuiltin(int id, std::span<Value> args) {
  switch (id) {
    case kBuiltinNot:
      return Value(!args[0].Truth());
    case kBuiltinEq: {
      SW_ASSIGN_OR_RETURN(bool r, Eq(args[0], args.subspan(1)));
      return Value(r);
    }
    case kBuiltinNe: {
      SW_ASSIGN_OR_RETURN(bool r, Eq(args[0], args.subspan(1)));
      return Value(!r);
    }
    case kBuiltinLt: {
      SW_ASSIGN_OR_RETURN(bool r, Lt(args[0], args[1]));
      return Value(r);
    }
    case kBuiltinLe: {
      SW_ASSIGN_OR_RETURN(bool r, Le(args[0], args[1]));
      return Value(r);
    }
    case kBuiltinGt: {
      SW_ASSIGN_OR_RETURN(bool r, Le(args[0], args[1]));
      return Value(!r);
    }
    case kBuiltinGe: {
      SW_ASSIGN_OR_RETURN(bool r, Lt(args[0], args[1]));
      return Value(!r);
    }
    case kBuiltinLen: {
      const Value& v = args[0];
      if (v.kind() == Value::Kind::kNil) return Err("len of nil pointer");
      if (!v.IsValid()) return Err("reflect: call of reflect.Value.Type on zero Value");
      switch (v.kind()) {
        case Value::Kind::kString:
        case Value::Kind::kList:
          return Value(static_cast<int64_t>(v.Size()));
        case Value::Kind::kMap:
          if (!v.is_struct()) return Value(static_cast<int64_t>(v.Size()));
          [[fallthrough]];
        default:
          return Err("len of type " + v.GoTypeName());
      }
    }
    case kBuiltinIndex:
      return Index(args);
    case kBuiltinSlice:
      return Slice(args);
    case kBuiltinPrint:
      return Value(GoSprint(args));
    case kBuiltinPrintf:
      return Value(GoSprintf(args[0].string_value(), args.subspan(1)));
    case kBuiltinPrintln:
      return Value(GoSprintln(args));
    case kBuiltinHtml:
      return Value(HtmlEscape(EvalArgs(args)));
    case kBuiltinJs:
      return Value(JsEscape(EvalArgs(args)));
    case kBuiltinUrlquery:
      return Value(UrlQueryEscape(EvalArgs(args)));
    case kBuiltinCall: {
      Value fn = Indirect(args[0]);
      if (!fn.IsValid()) return Err("call of nil");
      if (fn.kind() != Value::Kind::kFunc) return Err("non-function of type " + fn.GoTypeName());
      std::vector<Value> rest;
      for (size_t i = 1; i < args.size(); ++i) rest.push_back(args[i].Unboxed());
      return fn.func().impl(std::span<Value>(rest));
    }
    default:
      return Err("internal error: bad builtin");
  }
}

}  // namespace sw::tmpl
