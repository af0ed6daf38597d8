#include <algorithm>
#include <charconv>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "qlinear/nn/module.h"

namespace qlinear::nn {
namespace {

std::string join_path(const std::string& prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
}

// Splits "a.b.c" into "a" and "b.c" ("a" and "" when there is no dot).
std::pair<std::string_view, std::string_view> split_first(std::string_view path) {
  const std::size_t dot = path.find('.');
  if (dot == std::string_view::npos) return {path, {}};
  return {path.substr(0, dot), path.substr(dot + 1)};
}

std::optional<std::size_t> parse_index(std::string_view text) {
  std::size_t index = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), index);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return index;
}

// textwrap.indent(text, "  "): every non-empty line gets two spaces.
std::string indent(const std::string& text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && c != '\n') out += "  ";
    out += c;
    line_start = c == '\n';
  }
  return out;
}

}  // namespace

NamedParameters Module::parameters() const {
  NamedParameters out;
  collect_parameters("", false, out);
  return out;
}

NamedParameters Module::trainable_parameters() const {
  NamedParameters out;
  collect_parameters("", true, out);
  return out;
}

void Module::collect_parameters(const std::string& prefix, bool trainable_only,
                                NamedParameters& out) const {
  for (const auto& [name, value] : params_) {
    if (!trainable_only || !frozen_.contains(name))
      out.emplace_back(join_path(prefix, name), value);
  }
  for (const auto& [path, child] : children()) {
    child->collect_parameters(join_path(prefix, path), trainable_only, out);
  }
}

NamedModules Module::children() const {
  NamedModules out;
  for (const auto& [name, slot] : slots_) {
    if (const auto* single = std::get_if<ModulePtr>(&slot)) {
      out.emplace_back(name, *single);
    } else {
      const auto& list = std::get<ModuleList>(slot);
      for (std::size_t i = 0; i < list.size(); ++i) {
        out.emplace_back(name + "." + std::to_string(i), list[i]);
      }
    }
  }
  return out;
}

NamedModules Module::named_modules() const {
  NamedModules out;
  // The root has no owning handle to hand out; a non-owning one names it.
  out.emplace_back("", ModulePtr(ModulePtr{}, const_cast<Module*>(this)));
  collect_modules("", out);
  return out;
}

void Module::collect_modules(const std::string& prefix, NamedModules& out) const {
  for (const auto& [path, child] : children()) {
    const std::string full = join_path(prefix, path);
    out.emplace_back(full, child);
    child->collect_modules(full, out);
  }
}

NamedModules Module::leaf_modules() const {
  NamedModules out;
  for (auto& [path, module] : named_modules()) {
    if (!path.empty() && module->slots_.empty()) out.emplace_back(path, module);
  }
  return out;
}

bool Module::has_parameter(std::string_view name) const {
  return find_parameter(name) != nullptr;
}

const Tensor& Module::parameter(std::string_view name) const {
  if (const Tensor* value = find_parameter(name)) return *value;
  throw std::out_of_range(type_name() + " has no parameter named '" + std::string(name) + "'");
}

const Tensor* Module::find_parameter(std::string_view name) const {
  for (const auto& [key, value] : params_) {
    if (key == name) return &value;
  }
  return nullptr;
}

void Module::set_parameter(const std::string& name, Tensor value) {
  for (auto& [key, current] : params_) {
    if (key == name) {
      current = std::move(value);
      return;
    }
  }
  params_.emplace_back(name, std::move(value));
}

void Module::remove_parameter(std::string_view name) {
  std::erase_if(params_, [&](const auto& entry) { return entry.first == name; });
  frozen_.erase(std::string(name));
}

void Module::set_module(const std::string& name, ModulePtr module) {
  for (auto& [key, slot] : slots_) {
    if (key == name) {
      slot = std::move(module);
      return;
    }
  }
  slots_.emplace_back(name, std::move(module));
}

void Module::set_modules(const std::string& name, ModuleList modules) {
  for (auto& [key, slot] : slots_) {
    if (key == name) {
      slot = std::move(modules);
      return;
    }
  }
  slots_.emplace_back(name, std::move(modules));
}

ModulePtr* Module::find_entry(std::string_view path) {
  auto [first, rest] = split_first(path);
  for (auto& [name, slot] : slots_) {
    if (name != first) continue;
    ModulePtr* entry = std::get_if<ModulePtr>(&slot);
    if (!entry) {
      auto& list = std::get<ModuleList>(slot);
      std::string_view index_text;
      std::tie(index_text, rest) = split_first(rest);
      const auto index = parse_index(index_text);
      if (!index || *index >= list.size()) return nullptr;
      entry = &list[*index];
    }
    if (rest.empty()) return entry;
    return (*entry)->find_entry(rest);
  }
  return nullptr;
}

Module* Module::find_module(std::string_view path) {
  if (path.empty()) return this;
  ModulePtr* entry = find_entry(path);
  return entry ? entry->get() : nullptr;
}

Module& Module::module_at(std::string_view path) {
  if (Module* module = find_module(path)) return *module;
  throw std::out_of_range(type_name() + " has no module at path '" + std::string(path) + "'");
}

const Module& Module::module_at(std::string_view path) const {
  return const_cast<Module*>(this)->module_at(path);
}

std::vector<std::string> Module::checked_keys(const KeyList& keys, bool strict,
                                              std::string_view op) const {
  if (!keys) {
    std::vector<std::string> all;
    for (const auto& entry : params_) all.push_back(entry.first);
    return all;
  }
  if (strict) {
    for (const std::string& key : *keys) {
      if (!has_parameter(key)) {
        throw std::invalid_argument("[" + std::string(op) + "] " + type_name() +
                                    " has no parameter named '" + key + "'.");
      }
    }
  }
  return *keys;
}

void Module::freeze_own(const KeyList& keys, bool strict) {
  for (std::string& key : checked_keys(keys, strict, "freeze")) frozen_.insert(std::move(key));
}

void Module::unfreeze_own(const KeyList& keys, bool strict) {
  if (!keys) {
    frozen_.clear();
    return;
  }
  for (const std::string& key : checked_keys(keys, strict, "unfreeze")) frozen_.erase(key);
}

Module& Module::freeze(bool recurse, const KeyList& keys, bool strict) {
  if (!recurse) {
    freeze_own(keys, strict);
    return *this;
  }
  for (auto& [path, module] : named_modules()) module->freeze_own(keys, strict);
  return *this;
}

Module& Module::unfreeze(bool recurse, const KeyList& keys, bool strict) {
  if (!recurse) {
    unfreeze_own(keys, strict);
    return *this;
  }
  for (auto& [path, module] : named_modules()) module->unfreeze_own(keys, strict);
  return *this;
}

Module& Module::update_modules(const std::map<std::string, ModulePtr>& modules) {
  std::vector<ModulePtr*> entries;
  for (const auto& [path, module] : modules) {
    ModulePtr* entry = path.empty() ? nullptr : find_entry(path);
    if (!entry) {
      throw std::invalid_argument("[update_modules] " + type_name() +
                                  " has no sub-module at path '" + path + "'.");
    }
    if (!module) {
      throw std::invalid_argument("[update_modules] Received a null module for '" + path + "'.");
    }
    entries.push_back(entry);
  }
  auto entry = entries.begin();
  for (const auto& [path, module] : modules) **entry++ = module;
  return *this;
}

std::string Module::repr() const {
  std::string out = type_name() + "(" + extra_repr();
  const NamedModules kids = children();
  for (const auto& [path, child] : kids) out += "\n" + indent("(" + path + "): " + child->repr());
  if (!kids.empty()) out += "\n";
  return out + ")";
}

std::ostream& operator<<(std::ostream& os, const Module& module) {
  return os << module.repr();
}

}  // namespace qlinear::nn
