// tmpl/exec.cc: the executor. It follows the structure of Go's text/template/exec.go closely
// (including where the "current node" for error messages is set), because error texts and
// nil/missing-value behaviour are part of the compatibility contract.
#include <algorithm>
#include <new>

#include "tmpl/ast.h"

namespace sw::tmpl {
namespace {

// Go's maxExecDepth is 100000; our frames are larger than Go's growable stacks, so the limit is
// lower (see docs/templates.md).
constexpr int kMaxExecDepth = 2000;

enum class Flow : uint8_t { kNormal, kBreak, kContinue };

const char* ArgTypeName(ArgType t) {
  switch (t) {
    case ArgType::kAny:
      return "interface {}";
    case ArgType::kReflect:
      return "reflect.Value";
    case ArgType::kString:
      return "string";
    case ArgType::kInt:
      return "int";
    case ArgType::kInt64:
      return "int64";
    case ArgType::kFloat:
      return "float64";
    case ArgType::kBool:
      return "bool";
    case ArgType::kList:
      return "[]interface {}";
    case ArgType::kStringList:
      return "[]string";
    case ArgType::kMap:
      return "map[string]interface {}";
  }
  return "?";
}

bool Assignable(const Value& v, ArgType t) {
  if (v.methods() != nullptr && t != ArgType::kAny && t != ArgType::kReflect) return false;
  switch (t) {
    case ArgType::kAny:
    case ArgType::kReflect:
      return true;
    case ArgType::kString:
      return v.kind() == Value::Kind::kString;
    case ArgType::kInt:
      return v.kind() == Value::Kind::kInt && !v.is_int64();
    case ArgType::kInt64:
      return v.kind() == Value::Kind::kInt && v.is_int64();
    case ArgType::kFloat:
      return v.kind() == Value::Kind::kFloat;
    case ArgType::kBool:
      return v.kind() == Value::Kind::kBool;
    case ArgType::kList:
      return v.kind() == Value::Kind::kList && !v.is_string_list();
    case ArgType::kStringList:
      return v.is_string_list();
    case ArgType::kMap:
      return v.kind() == Value::Kind::kMap && !v.is_struct();
  }
  return false;
}

bool CanBeNil(ArgType t) {
  return t == ArgType::kAny || t == ArgType::kReflect || t == ArgType::kList ||
         t == ArgType::kStringList || t == ArgType::kMap;
}

Value ZeroOf(ArgType t) {
  switch (t) {
    case ArgType::kAny:
      return Value::Nil();
    case ArgType::kList:
      return Value(ValueList{});
    case ArgType::kStringList:
      return Value::StringList({});
    case ArgType::kMap:
      return Value::Map(std::vector<std::pair<std::string, Value>>{});
    default:
      return Value();
  }
}

struct Var {
  const std::string* name;
  Value value;
};

class Exec {
 public:
  Exec(const TemplateSet* set, const Tree* tree, std::string* out)
      : set_(set), tree_(tree), out_(out) {}

  Status Run(const Value& data_in) {
    vars_.reserve(16);
    // Go's reflect.ValueOf(data): an interface holding nil becomes the invalid value.
    Value data = data_in.Unboxed();
    vars_.push_back(Var{&kDollar, data});
    if (tree_->root == nullptr) {
      return Status::InvalidArgument("template: " + tree_->name + ": " + GoQuote(tree_->name) +
                                     " is an incomplete or empty template");
    }
    return Walk(data, tree_->root.get());
  }

 private:
  static inline const std::string kDollar = "$";

  void At(const Node* n) { node_ = n; }

  Status Errorf(const std::string& msg) {
    std::string s = "template: ";
    if (node_ == nullptr) {
      s += tree_->name + ": " + msg;
      return Status::InvalidArgument(s);
    }
    const std::string& text = *tree_->text;
    size_t pos = std::min<size_t>(node_->pos, text.size());
    std::string_view before(text.data(), pos);
    size_t nl = before.rfind('\n');
    size_t col = nl == std::string_view::npos ? pos : pos - (nl + 1);
    size_t line = 1 + std::count(before.begin(), before.end(), '\n');
    s += tree_->parse_name + ":" + std::to_string(line) + ":" + std::to_string(col) +
         ": executing " + GoQuote(tree_->name) + " at <" + node_->String() + ">: " + msg;
    return Status::InvalidArgument(s);
  }

  size_t Mark() const { return vars_.size(); }
  void Pop(size_t mark) { vars_.resize(mark); }
  Status SetVar(const std::string& name, const Value& v) {
    for (size_t i = vars_.size(); i-- > 0;) {
      if (*vars_[i].name == name) {
        vars_[i].value = v;
        return Status::OK();
      }
    }
    return Errorf("undefined variable: " + name);
  }
  Status VarValue(const std::string& name, Value* out) {
    for (size_t i = vars_.size(); i-- > 0;) {
      if (*vars_[i].name == name) {
        *out = vars_[i].value;
        return Status::OK();
      }
    }
    return Errorf("undefined variable: " + name);
  }

  Status Walk(const Value& dot, const Node* node) {
    At(node);
    switch (node->type) {
      case NodeType::kAction: {
        Value val;
        SW_RETURN_IF_ERROR(EvalPipeline(dot, node->pipe.get(), &val));
        if (node->pipe->decl.empty()) return PrintValue(node, val);
        return Status::OK();
      }
      case NodeType::kBreak:
        flow_ = Flow::kBreak;
        return Status::OK();
      case NodeType::kContinue:
        flow_ = Flow::kContinue;
        return Status::OK();
      case NodeType::kIf:
      case NodeType::kWith:
        return WalkIfOrWith(node->type == NodeType::kWith, dot, node);
      case NodeType::kList:
        for (const auto& n : node->nodes) {
          if (n->type == NodeType::kText) {  // hot path
            out_->append(n->text);
            continue;
          }
          SW_RETURN_IF_ERROR(Walk(dot, n.get()));
          if (flow_ != Flow::kNormal) return Status::OK();
        }
        return Status::OK();
      case NodeType::kRange:
        return WalkRange(dot, node);
      case NodeType::kTemplate:
        return WalkTemplate(dot, node);
      case NodeType::kText:
        out_->append(node->text);
        return Status::OK();
      default:
        return Errorf("unknown node: " + node->String());
    }
  }

  Status WalkIfOrWith(bool is_with, const Value& dot, const Node* node) {
    size_t mark = Mark();
    Value val;
    SW_RETURN_IF_ERROR(EvalPipeline(dot, node->pipe.get(), &val));
    if (val.kind() == Value::Kind::kFunc) return Errorf("if/with can't use " + FormatValue(val));
    Status st;
    if (val.Truth()) {
      st = Walk(is_with ? val : dot, node->list.get());
    } else if (node->else_list) {
      st = Walk(dot, node->else_list.get());
    }
    Pop(mark);
    return st;
  }

  Status WalkRange(const Value& dot, const Node* r) {
    At(r);
    size_t mark = Mark();
    Value val;
    SW_RETURN_IF_ERROR(EvalPipeline(dot, r->pipe.get(), &val));
    size_t mark2 = Mark();
    size_t ndecl = r->pipe->decl.size();
    auto one = [&](const Value& index, const Value& elem) -> Status {
      if (ndecl > 0) vars_[vars_.size() - 1].value = elem;
      if (ndecl > 1) vars_[vars_.size() - 2].value = index;
      Status st = Walk(elem, r->list.get());
      Pop(mark2);
      return st;
    };
    bool ran = false;
    switch (val.kind()) {
      case Value::Kind::kList: {
        size_t n = val.list().size();
        for (size_t i = 0; i < n; ++i) {
          ran = true;
          SW_RETURN_IF_ERROR(one(Value(static_cast<int64_t>(i)), val.ListAt(i)));
          if (flow_ == Flow::kBreak) {
            flow_ = Flow::kNormal;
            break;
          }
          flow_ = Flow::kNormal;
        }
        break;
      }
      case Value::Kind::kMap: {
        if (val.is_struct()) return Errorf("range can't iterate over " + FormatValue(val));
        const auto& entries = val.map_data().entries;
        for (size_t i = 0; i < entries.size(); ++i) {
          ran = true;
          SW_RETURN_IF_ERROR(one(Value(entries[i].first), entries[i].second.Boxed()));
          if (flow_ == Flow::kBreak) {
            flow_ = Flow::kNormal;
            break;
          }
          flow_ = Flow::kNormal;
        }
        break;
      }
      case Value::Kind::kInvalid:
      case Value::Kind::kNil:
        break;
      default:
        return Errorf("range can't iterate over " + FormatValue(val));
    }
    Status st;
    if (!ran && r->else_list) st = Walk(dot, r->else_list.get());
    Pop(mark);
    return st;
  }

  Status WalkTemplate(const Value& dot, const Node* t) {
    At(t);
    auto it = set_->trees.find(t->text);
    if (it == set_->trees.end()) return Errorf("template " + GoQuote(t->text) + " not defined");
    if (depth_ >= kMaxExecDepth) {
      return Errorf("exceeded maximum template depth (" + std::to_string(kMaxExecDepth) + ")");
    }
    Value newdot;
    if (t->pipe) SW_RETURN_IF_ERROR(EvalPipeline(dot, t->pipe.get(), &newdot));
    Exec sub(set_, it->second.get(), out_);
    sub.depth_ = depth_ + 1;
    sub.vars_.push_back(Var{&kDollar, newdot});
    Status st = sub.Walk(newdot, it->second->root.get());
    return st;
  }

  Status EvalPipeline(const Value& dot, const Node* pipe, Value* out) {
    *out = Value();
    if (pipe == nullptr) return Status::OK();
    At(pipe);
    bool has_final = false;
    for (const auto& cmd : pipe->nodes) {
      Value v;
      SW_RETURN_IF_ERROR(EvalCommand(dot, cmd.get(), has_final ? out : nullptr, &v));
      v.Unbox();
      *out = std::move(v);
      has_final = true;
    }
    for (const auto& var : pipe->decl) {
      if (pipe->is_assign) {
        SW_RETURN_IF_ERROR(SetVar(var->ident[0], *out));
      } else {
        vars_.push_back(Var{&var->ident[0], *out});
      }
    }
    return Status::OK();
  }

  Status NotAFunction(const std::vector<std::unique_ptr<Node>>* args, const Value* final) {
    if ((args != nullptr && args->size() > 1) || final != nullptr) {
      return Errorf("can't give argument to non-function " + (*args)[0]->String());
    }
    return Status::OK();
  }

  Status EvalCommand(const Value& dot, const Node* cmd, const Value* final, Value* out) {
    const Node* first = cmd->nodes[0].get();
    switch (first->type) {
      case NodeType::kField:
        return EvalFieldNode(dot, first, &cmd->nodes, final, out);
      case NodeType::kChain:
        return EvalChainNode(dot, first, &cmd->nodes, final, out);
      case NodeType::kIdentifier:
        return EvalFunction(dot, first, cmd, &cmd->nodes, final, out);
      case NodeType::kPipe:
        SW_RETURN_IF_ERROR(NotAFunction(&cmd->nodes, final));
        return EvalPipeline(dot, first, out);
      case NodeType::kVariable:
        return EvalVariableNode(dot, first, &cmd->nodes, final, out);
      default:
        break;
    }
    At(first);
    SW_RETURN_IF_ERROR(NotAFunction(&cmd->nodes, final));
    switch (first->type) {
      case NodeType::kBool:
        *out = Value(first->b);
        return Status::OK();
      case NodeType::kDot:
        *out = dot;
        return Status::OK();
      case NodeType::kNil:
        return Errorf("nil is not a command");
      case NodeType::kNumber:
        return IdealConstant(first, out);
      case NodeType::kString:
        *out = Value(first->text);
        return Status::OK();
      default:
        return Errorf("can't evaluate command " + GoQuote(first->String()));
    }
  }

  Status IdealConstant(const Node* c, Value* out) {
    At(c);
    const std::string& t = c->text;
    bool hex_int = t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') &&
                   t.find_first_of("pP") == std::string::npos;
    bool rune = !t.empty() && t[0] == '\'';
    if (c->is_float && !hex_int && !rune && t.find_first_of(".eEpP") != std::string::npos) {
      *out = Value(c->f);
      return Status::OK();
    }
    if (c->is_int) {
      *out = Value(c->i);
      return Status::OK();
    }
    if (c->is_uint) return Errorf(t + " overflows int");
    *out = Value();
    return Status::OK();
  }

  Status EvalFieldNode(const Value& dot, const Node* field,
                       const std::vector<std::unique_ptr<Node>>* args, const Value* final,
                       Value* out) {
    At(field);
    return EvalFieldChain(dot, dot, field, field->ident, 0, args, final, out);
  }

  Status EvalChainNode(const Value& dot, const Node* chain,
                       const std::vector<std::unique_ptr<Node>>* args, const Value* final,
                       Value* out) {
    At(chain);
    if (chain->pipe->type == NodeType::kNil) {
      return Errorf("indirection through explicit nil in " + chain->String());
    }
    Value pipe;
    SW_RETURN_IF_ERROR(EvalArg(dot, ArgType::kReflect, chain->pipe.get(), &pipe));
    return EvalFieldChain(dot, pipe, chain, chain->ident, 0, args, final, out);
  }

  Status EvalVariableNode(const Value& dot, const Node* var,
                          const std::vector<std::unique_ptr<Node>>* args, const Value* final,
                          Value* out) {
    At(var);
    Value value;
    SW_RETURN_IF_ERROR(VarValue(var->ident[0], &value));
    if (var->ident.size() == 1) {
      SW_RETURN_IF_ERROR(NotAFunction(args, final));
      *out = std::move(value);
      return Status::OK();
    }
    return EvalFieldChain(dot, value, var, var->ident, 1, args, final, out);
  }

  // The receiver is borrowed (no reference-count traffic); intermediate values are owned.
  Status EvalFieldChain(const Value& dot, const Value& receiver, const Node* node,
                        const std::vector<std::string>& ident, size_t from,
                        const std::vector<std::unique_ptr<Node>>* args, const Value* final,
                        Value* out) {
    size_t n = ident.size();
    std::atomic<uint32_t>* hints = node->hints.get();
    const Value* cur = &receiver;
    Value owned;
    for (size_t i = from; i + 1 < n; ++i) {
      Value next;
      SW_RETURN_IF_ERROR(EvalField(dot, node, ident[i], hints ? &hints[i] : nullptr, nullptr,
                                   nullptr, *cur, &next));
      owned = std::move(next);
      cur = &owned;
    }
    return EvalField(dot, node, ident[n - 1], hints ? &hints[n - 1] : nullptr, args, final,
                     *cur, out);
  }

  Status EvalField(const Value& dot, const Node* node, const std::string& name,
                   std::atomic<uint32_t>* hint,
                   const std::vector<std::unique_ptr<Node>>* args, const Value* final,
                   const Value& receiver, Value* out) {
    if (!receiver.IsValid()) {
      *out = Value();
      return Status::OK();
    }
    if (receiver.kind() == Value::Kind::kNil) {
      return Errorf("nil pointer evaluating interface {}." + name);
    }
    if (const MethodSet* ms = receiver.methods()) {
      if (const Method* m = ms->Find(name)) {
        return EvalMethodCall(dot, *m, receiver, node, args, final, out);
      }
    }
    bool has_args = (args != nullptr && args->size() > 1) || final != nullptr;
    if (receiver.kind() == Value::Kind::kMap) {
      const Value* f = hint != nullptr ? receiver.Find(name, hint) : receiver.Find(name);
      if (receiver.is_struct()) {
        if (f != nullptr) {
          if (has_args) return Errorf(name + " has arguments but cannot be invoked as function");
          *out = f->Boxed();
          return Status::OK();
        }
      } else {
        if (has_args) return Errorf(name + " is not a method but has arguments");
        *out = f != nullptr ? f->Boxed() : Value();
        return Status::OK();
      }
    }
    return Errorf("can't evaluate field " + name + " in type " + receiver.GoTypeName(true));
  }

  Status EvalFunction(const Value& dot, const Node* ident, const Node* cmd,
                      const std::vector<std::unique_ptr<Node>>* args, const Value* final,
                      Value* out) {
    At(ident);
    return EvalCall(dot, ident, cmd, args, final, out);
  }

  Status EvalCall(const Value& dot, const Node* ident, const Node* node,
                  const std::vector<std::unique_ptr<Node>>* args, const Value* final,
                  Value* out) {
    const FuncSig& sig = ident->func != nullptr ? ident->func->sig : BuiltinSig(ident->builtin);
    if (ident->builtin == kBuiltinAnd || ident->builtin == kBuiltinOr) {
      SW_RETURN_IF_ERROR(CheckArgCount(ident->text, sig, args, final));
      size_t nargs = args != nullptr ? args->size() - 1 : 0;
      bool is_or = ident->builtin == kBuiltinOr;
      Value v;
      for (size_t i = 1; i <= nargs; ++i) {
        SW_RETURN_IF_ERROR(EvalArg(dot, ArgType::kReflect, (*args)[i].get(), &v));
        if (v.Truth() == is_or) {
          *out = std::move(v);
          return Status::OK();
        }
      }
      if (final != nullptr) v = *final;
      *out = std::move(v);
      return Status::OK();
    }
    return Invoke(dot, ident->text, sig, node, args, final, out, [&](std::span<Value> argv) {
      return ident->func != nullptr ? ident->func->impl(argv) : CallBuiltin(ident->builtin, argv);
    });
  }

  // Go calls a method with the field/chain node as the call node.
  Status EvalMethodCall(const Value& dot, const Method& m, const Value& receiver,
                        const Node* node, const std::vector<std::unique_ptr<Node>>* args,
                        const Value* final, Value* out) {
    return Invoke(dot, m.name, m.sig, node, args, final, out,
                  [&](std::span<Value> argv) { return m.impl(receiver, argv); });
  }

  Status CheckArgCount(const std::string& name, const FuncSig& sig,
                       const std::vector<std::unique_ptr<Node>>* args, const Value* final) {
    size_t nargs = args != nullptr ? args->size() - 1 : 0;
    size_t num_in = nargs + (final != nullptr ? 1 : 0);
    size_t nparams = sig.params.size();
    if (sig.variadic) {
      if (num_in < nparams - 1) {
        return Errorf("wrong number of args for " + name + ": want at least " +
                      std::to_string(nparams - 1) + " got " + std::to_string(nargs));
      }
    } else if (num_in != nparams) {
      return Errorf("wrong number of args for " + name + ": want " + std::to_string(nparams) +
                    " got " + std::to_string(num_in));
    }
    return Status::OK();
  }

  // Go's evalCall after the function is known: argument count, conversion of each argument to
  // its parameter type, the call, and "error calling NAME: ..." on failure.
  template <typename Fn>
  Status Invoke(const Value& dot, const std::string& name, const FuncSig& sig, const Node* node,
                const std::vector<std::unique_ptr<Node>>* args, const Value* final, Value* out,
                Fn&& call) {
    SW_RETURN_IF_ERROR(CheckArgCount(name, sig, args, final));
    size_t nargs = args != nullptr ? args->size() - 1 : 0;
    size_t num_in = nargs + (final != nullptr ? 1 : 0);
    size_t num_fixed = sig.variadic ? sig.params.size() - 1 : nargs;
    // Up to 4 arguments live on the stack (the common case), constructed only as needed; more
    // go to the heap.
    alignas(Value) unsigned char small[4 * sizeof(Value)];
    std::vector<Value> big;
    std::span<Value> argv;
    struct Destroy {
      Value* p;
      size_t n;
      ~Destroy() {
        for (size_t k = 0; k < n; ++k) p[k].~Value();
      }
    } destroy{nullptr, 0};
    if (num_in <= 4) {
      Value* p = reinterpret_cast<Value*>(small);
      for (size_t k = 0; k < num_in; ++k) new (p + k) Value();
      destroy = {p, num_in};
      argv = std::span<Value>(p, num_in);
    } else {
      big.resize(num_in);
      argv = std::span<Value>(big);
    }
    size_t i = 0;
    for (; i < num_fixed && i < nargs; ++i) {
      SW_RETURN_IF_ERROR(EvalArg(dot, sig.params[i], (*args)[i + 1].get(), &argv[i]));
    }
    if (sig.variadic) {
      ArgType et = sig.params.back();
      for (; i < nargs; ++i) {
        SW_RETURN_IF_ERROR(EvalArg(dot, et, (*args)[i + 1].get(), &argv[i]));
      }
    }
    if (final != nullptr) {
      ArgType t = sig.params.back();
      if (sig.variadic && num_in - 1 < num_fixed) t = sig.params[num_in - 1];
      SW_RETURN_IF_ERROR(ValidateType(*final, t, &argv[i]));
    }
    Result<Value> r = call(argv);
    if (!r.ok()) {
      At(node);
      return Errorf("error calling " + name + ": " + std::string(r.status().message()));
    }
    *out = std::move(r).value();
    return Status::OK();
  }

  Status ValidateType(const Value& value, ArgType t, Value* out) {
    if (!value.IsValid()) {
      if (CanBeNil(t)) {
        *out = ZeroOf(t);
        return Status::OK();
      }
      return Errorf(std::string("invalid value; expected ") + ArgTypeName(t));
    }
    if (t == ArgType::kReflect) {
      *out = value;
      return Status::OK();
    }
    if (t == ArgType::kAny) {
      *out = value.kind() == Value::Kind::kNil ? value : value.Unboxed();
      return Status::OK();
    }
    if (value.kind() == Value::Kind::kNil) {
      return Errorf(std::string("wrong type for value; expected ") + ArgTypeName(t) +
                    "; got interface {}");
    }
    if (!Assignable(value, t)) {
      return Errorf(std::string("wrong type for value; expected ") + ArgTypeName(t) + "; got " +
                    value.GoTypeName(false));
    }
    *out = value.Unboxed();
    return Status::OK();
  }

  Status EvalArg(const Value& dot, ArgType t, const Node* n, Value* out) {
    At(n);
    switch (n->type) {
      case NodeType::kDot:
        return ValidateType(dot, t, out);
      case NodeType::kNil:
        if (CanBeNil(t)) {
          *out = ZeroOf(t);
          return Status::OK();
        }
        return Errorf(std::string("cannot assign nil to ") + ArgTypeName(t));
      case NodeType::kField: {
        Value v;
        SW_RETURN_IF_ERROR(EvalFieldChain(dot, dot, n, n->ident, 0, nullptr, nullptr, &v));
        return ValidateType(v, t, out);
      }
      case NodeType::kVariable: {
        Value v;
        SW_RETURN_IF_ERROR(EvalVariableNode(dot, n, nullptr, nullptr, &v));
        return ValidateType(v, t, out);
      }
      case NodeType::kPipe: {
        Value v;
        SW_RETURN_IF_ERROR(EvalPipeline(dot, n, &v));
        return ValidateType(v, t, out);
      }
      case NodeType::kIdentifier: {
        Value v;
        SW_RETURN_IF_ERROR(EvalFunction(dot, n, n, nullptr, nullptr, &v));
        return ValidateType(v, t, out);
      }
      case NodeType::kChain: {
        Value v;
        SW_RETURN_IF_ERROR(EvalChainNode(dot, n, nullptr, nullptr, &v));
        return ValidateType(v, t, out);
      }
      default:
        break;
    }
    switch (t) {
      case ArgType::kBool:
        if (n->type == NodeType::kBool) {
          *out = Value(n->b);
          return Status::OK();
        }
        return Errorf("expected bool; found " + n->String());
      case ArgType::kFloat:
        if (n->type == NodeType::kNumber && n->is_float) {
          *out = Value(n->f);
          return Status::OK();
        }
        return Errorf("expected float; found " + n->String());
      case ArgType::kInt:
      case ArgType::kInt64:
        if (n->type == NodeType::kNumber && n->is_int) {
          *out = t == ArgType::kInt64 ? Value::Int64(n->i) : Value(n->i);
          return Status::OK();
        }
        return Errorf("expected integer; found " + n->String());
      case ArgType::kString:
        if (n->type == NodeType::kString) {
          *out = Value(n->text);
          return Status::OK();
        }
        return Errorf("expected string; found " + n->String());
      case ArgType::kAny:
      case ArgType::kReflect:
        At(n);
        switch (n->type) {
          case NodeType::kBool:
            *out = Value(n->b);
            return Status::OK();
          case NodeType::kNumber:
            return IdealConstant(n, out);
          case NodeType::kString:
            *out = Value(n->text);
            return Status::OK();
          default:
            return Errorf("can't handle assignment of " + n->String() +
                          " to empty interface argument");
        }
      default:
        return Errorf("can't handle " + n->String() + " for arg of type " + ArgTypeName(t));
    }
  }

  Status PrintValue(const Node* n, const Value& v) {
    At(n);
    if (!v.IsValid()) {
      out_->append("<no value>");
      return Status::OK();
    }
    if (v.kind() == Value::Kind::kFunc) {
      return Errorf("can't print " + n->String() + " of type " + v.GoTypeName());
    }
    AppendValue(out_, v);
    return Status::OK();
  }

  const TemplateSet* set_;
  const Tree* tree_;
  std::string* out_;
  const Node* node_ = nullptr;
  std::vector<Var> vars_;
  int depth_ = 0;
  Flow flow_ = Flow::kNormal;
};

}  // namespace

void FuncMap::Add(std::string name, FuncSig sig, FuncImpl impl) {
  auto f = std::make_shared<Func>();
  f->name = name;
  f->sig = std::move(sig);
  f->impl = std::move(impl);
  funcs_[std::move(name)] = std::move(f);
}

const Func* FuncMap::Find(std::string_view name) const {
  auto it = funcs_.find(name);
  return it == funcs_.end() ? nullptr : it->second.get();
}

Result<Template> Template::Parse(std::string_view name, std::string_view text,
                                 std::shared_ptr<const FuncMap> funcs) {
  auto set = std::make_shared<TemplateSet>();
  set->funcs = std::move(funcs);
  auto owned = std::make_shared<const std::string>(text);
  SW_RETURN_IF_ERROR(ParseInto(name, owned, set.get()));
  Template t;
  t.name_ = std::string(name);
  t.set_ = std::move(set);
  return t;
}

Status Template::Execute(const Value& data, std::string* out) const {
  return ExecuteTemplate(name_, data, out);
}

Status Template::ExecuteTemplate(std::string_view name, const Value& data,
                                 std::string* out) const {
  auto it = set_->trees.find(name);
  if (it == set_->trees.end()) {
    return Status::InvalidArgument("template: no template " + GoQuote(name) +
                                   " associated with template " + GoQuote(name_));
  }
  Exec e(set_.get(), it->second.get(), out);
  return e.Run(data);
}

Result<std::string> Template::Render(const Value& data) const {
  std::string out;
  SW_RETURN_IF_ERROR(Execute(data, &out));
  return out;
}

namespace {

// Conservative dependency analysis for Template::TopLevelFields.
class FieldCollector {
 public:

  // root: whether dot is the top-level data while evaluating n.
  void Walk(const Node* n, bool root) {
    if (n == nullptr || escaped_) return;
    switch (n->type) {
      case NodeType::kList:
        for (const auto& c : n->nodes) Walk(c.get(), root);
        return;
      case NodeType::kAction:
        Pipe(n->pipe.get(), root);
        return;
      case NodeType::kIf:
        Pipe(n->pipe.get(), root);
        Walk(n->list.get(), root);
        Walk(n->else_list.get(), root);
        return;
      case NodeType::kRange:
      case NodeType::kWith:
        Pipe(n->pipe.get(), root);
        Walk(n->list.get(), false);  // dot is the element / the pipeline value
        Walk(n->else_list.get(), root);
        return;
      case NodeType::kTemplate: {
        if (n->pipe == nullptr) return;  // the callee gets no data
        // The callee's dot (and $) is the pipeline value: if that can be the data itself, the
        // data escapes; otherwise the callee only sees values of already-recorded fields.
        const Node* p = n->pipe.get();
        if (p->nodes.size() == 1 && p->nodes[0]->nodes.size() == 1) {
          const Node* arg = p->nodes[0]->nodes[0].get();
          if ((arg->type == NodeType::kDot && root) ||
              (arg->type == NodeType::kVariable && arg->ident.size() == 1 &&
               arg->ident[0] == "$")) {
            escaped_ = true;
            return;
          }
        }
        Pipe(p, root);
        return;
      }
      default:
        return;
    }
  }

  void Pipe(const Node* p, bool root) {
    if (p == nullptr) return;
    for (const auto& cmd : p->nodes) {
      for (const auto& arg : cmd->nodes) Arg(arg.get(), root);
    }
  }

  void Arg(const Node* a, bool root) {
    switch (a->type) {
      case NodeType::kField:
        if (root) fields_.push_back(a->ident[0]);
        return;
      case NodeType::kVariable:
        if (a->ident[0] == "$") {
          if (a->ident.size() == 1) {
            escaped_ = true;
          } else {
            fields_.push_back(a->ident[1]);
          }
        }
        return;
      case NodeType::kDot:
        if (root) escaped_ = true;
        return;
      case NodeType::kChain:
        Arg(a->pipe.get(), root);
        return;
      case NodeType::kPipe:
        Pipe(a, root);
        return;
      default:
        return;
    }
  }

  bool escaped() const { return escaped_; }
  std::vector<std::string> Fields() {
    std::sort(fields_.begin(), fields_.end());
    fields_.erase(std::unique(fields_.begin(), fields_.end()), fields_.end());
    return fields_;
  }

 private:
  bool escaped_ = false;
  std::vector<std::string> fields_;
};

}  // namespace

std::optional<std::vector<std::string>> Template::TopLevelFields() const {
  auto it = set_->trees.find(name_);
  if (it == set_->trees.end()) return std::nullopt;
  FieldCollector c;
  c.Walk(it->second->root.get(), /*root=*/true);
  if (c.escaped()) return std::nullopt;
  return c.Fields();
}

std::vector<std::string> Template::TemplateNames() const {
  std::vector<std::string> names;
  for (const auto& [k, v] : set_->trees) names.push_back(k);
  return names;
}

}  // namespace sw::tmpl
