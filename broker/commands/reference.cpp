#include "broker/commands/reference.hpp"

#include <CLI/CLI.hpp>
#include <sstream>

#include "broker/commands/command.hpp"

namespace pb::broker::commands {
namespace {

/// The same tree of CLI11 apps that run() parses. The handlers own the
/// variables the options write into, so they live as long as the app.
struct App {
  CLI::App app{"para-broker", "para-broker"};
  std::vector<Handler> handlers;

  App() {
    app.set_version_flag("--version", std::string("para-broker ") + PB_VERSION);
    app.require_subcommand(1);
    for (const auto& spec : command_table()) {
      CLI::App* sub = app.add_subcommand(std::string(spec.name), std::string(spec.summary));
      handlers.push_back(spec.setup(*sub));
    }
  }
};

OptionReference option_of(const CLI::Option& o) {
  OptionReference r;
  for (const auto& s : o.get_snames()) r.names.push_back("-" + s);
  for (const auto& l : o.get_lnames()) r.names.push_back("--" + l);
  if (o.get_positional() && r.names.empty()) r.positional = o.get_name(true);
  if (o.get_type_size_max() > 0 && o.get_expected_max() > 0) {
    // CLI11 appends validators' descriptions after ':' ("INT:INT in [1 - 600]",
    // "TEXT:{bash,zsh}"); a type name of capitals like "HOST:IP" stays whole.
    const std::string full = o.get_type_name();
    const auto colon = full.find(':');
    const bool validator = colon != std::string::npos &&
                           full.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_:", colon) != std::string::npos;
    r.value = validator ? full.substr(0, colon) : full;
    if (r.value.empty()) r.value = "VALUE";
  }
  r.description = o.get_description();
  r.required = o.get_required();
  return r;
}

CommandReference command_of(const CLI::App& app, std::string example) {
  CommandReference c;
  c.name = app.get_name();
  c.summary = app.get_description();
  c.example = std::move(example);
  for (const CLI::Option* o : app.get_options()) c.options.push_back(option_of(*o));
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    c.subcommands.push_back(command_of(*sub, {}));
  return c;
}

// ---------------------------------------------------------------- roff

std::string roff(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '\\')
      out += "\\e";
    else if (ch == '-')
      out += "\\-";
    else
      out += ch;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

std::string option_label(const OptionReference& o) {
  std::string s;
  for (const auto& n : o.names) s += (s.empty() ? "" : ", ") + std::string("\\fB") + roff(n) + "\\fR";
  if (!o.positional.empty()) s = "\\fI" + roff(o.positional) + "\\fR";
  if (!o.value.empty() && !o.names.empty()) s += " \\fI" + roff(o.value) + "\\fR";
  return s;
}

void man_options(std::ostream& os, const std::vector<OptionReference>& options) {
  for (const auto& o : options) {
    if (o.names.size() == 2 && o.names[1] == "--help") continue;  // every command has it; said once
    os << ".TP\n"
       << option_label(o) << "\n"
       << roff(o.description.empty() ? "(no description)" : o.description) << (o.required ? " (required)" : "") << "\n";
  }
}

// ---------------------------------------------------------------- shells

std::string words_of(const CommandReference& c) {
  std::string w;
  for (const auto& s : c.subcommands) w += (w.empty() ? "" : " ") + s.name;
  for (const auto& o : c.options)
    for (const auto& n : o.names)
      if (n.starts_with("--")) w += (w.empty() ? "" : " ") + n;
  return w;
}

/// Text inside a zsh single-quoted _arguments/_describe spec.
std::string zsh_text(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '\'')
      out += "'\\''";
    else if (ch == '[' || ch == ']' || ch == ':' || ch == '\\')
      out += std::string("\\") + ch;
    else
      out += ch;
  }
  return out;
}

void zsh_arguments(std::ostream& os, const CommandReference& c, const std::string& indent) {
  os << indent << "_arguments -s";
  for (const auto& o : c.options) {
    if (!o.positional.empty()) continue;
    for (const auto& n : o.names) {
      os << " \\\n" << indent << "  '" << n << "[" << zsh_text(o.description) << "]";
      if (!o.value.empty()) os << ":" << zsh_text(o.value) << ":_files";
      os << "'";
    }
  }
  os << " \\\n" << indent << "  '*:argument:_files'\n";
}

}  // namespace

std::vector<CommandReference> command_reference() {
  App a;
  std::vector<CommandReference> out;
  for (const auto& spec : command_table()) {
    const CLI::App* sub = a.app.get_subcommand(std::string(spec.name));
    out.push_back(command_of(*sub, std::string(spec.example)));
  }
  return out;
}

Status check_command_line(const std::vector<std::string>& args) {
  App a;
  try {
    std::vector<std::string> rev(args.rbegin(), args.rend());
    a.app.parse(rev);
  } catch (const CLI::Success&) {
    return {};  // --help, --version
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return {};  // --help of the whole program or of a command
    return fail(ErrorKind::usage, e.what());
  }
  return {};
}

std::string man_page() {
  const auto commands = command_reference();
  std::ostringstream os;
  os << ".\\\" Generated by 'para-broker manpage' from the command table; do not edit.\n"
     << ".TH PARA\\-BROKER 1 \"\" \"para-broker " << PB_VERSION << "\" \"User Commands\"\n"
     << ".SH NAME\npara\\-broker \\- keep Claude Code credentials out of Docker images and mount them per session\n"
     << ".SH SYNOPSIS\n.B para\\-broker\n[\\fB\\-\\-help\\fR] [\\fB\\-\\-version\\fR] \\fICOMMAND\\fR "
        "[\\fIOPTIONS\\fR]\n"
     << ".SH DESCRIPTION\n"
        "para\\-broker finds where an image's Claude Code keeps its config (\\fBprobe\\fR), captures a logged\\-in\n"
        "state once into an encrypted local vault (\\fBlogin\\fR, \\fBimport\\fR), puts it into a per\\-session\n"
        "Docker volume at dispatch time (\\fBmount\\fR), writes refreshed tokens back at the end (\\fBrelease\\fR),\n"
        "and reports what is stored and where it is mounted (\\fBaudit\\fR). It talks to the Docker Engine API\n"
        "directly and never to an Anthropic service. Every command has \\fB\\-\\-help\\fR.\n"
     << ".SH COMMANDS\n";
  for (const auto& c : commands) {
    os << ".SS \"" << roff(c.name);
    for (const auto& o : c.options)
      if (!o.positional.empty()) os << " " << roff(o.positional);
    os << "\"\n" << roff(c.summary) << ".\n";
    man_options(os, c.options);
    for (const auto& s : c.subcommands) {
      os << ".TP\n\\fB" << roff(c.name) << " " << roff(s.name) << "\\fR";
      for (const auto& o : s.options)
        if (!o.positional.empty()) os << " \\fI" << roff(o.positional) << "\\fR";
      os << "\n" << roff(s.summary) << ".\n.RS\n";
      man_options(os, s.options);
      os << ".RE\n";
    }
    if (!c.example.empty()) os << ".PP\nExample:\n.RS\n.nf\n" << roff(c.example) << "\n.fi\n.RE\n";
  }
  os << ".SH ENVIRONMENT\n"
        ".TP\n.B PARA_BROKER_HOME\nThe vault directory (default \\fI$XDG_DATA_HOME/para\\-broker\\fR).\n"
        ".TP\n.B PARA_BROKER_KEY_FILE\nThe key file of the key\\-file provider (default "
        "\\fI$XDG_CONFIG_HOME/para\\-broker/vault.key\\fR).\n"
        ".TP\n.B PARA_BROKER_PASSPHRASE\nThe passphrase of the passphrase provider, for automation.\n"
        ".TP\n.B PARA_BROKER_CACHE\nThe probe cache, and the images' config that mounts read, sealed under a "
        "key of the vault's (default \\fI$XDG_CACHE_HOME/para\\-broker\\fR).\n"
        ".TP\n.B PARA_BROKER_EXTRA_LABELS\nExtra labels (\\fIk=v,k2=v2\\fR) put on every Docker object para\\-broker "
        "creates.\n"
        ".TP\n.B PARA_BROKER_RELAY\nThe relay program that keeps sessions of several users of one credential on one "
        "login (default \\fI../libexec/para\\-broker/para\\-broker\\-relay\\fR from the directory para\\-broker "
        "is in).\n"
        ".TP\n.BR DOCKER_HOST \", \" DOCKER_TLS_VERIFY \", \" DOCKER_CERT_PATH\nThe Docker endpoint, as for the docker "
        "CLI (default \\fIunix:///var/run/docker.sock\\fR).\n"
     << ".SH EXIT STATUS\n"
        "0 success, 1 failure, 2 usage error, 3 not found (image, credential, session, Claude Code),\n"
        "4 vault locked or wrong key, 5 Docker unreachable, 6 integrity failure, 7 unsafe input refused,\n"
        "10 audit needs attention.\n"
     << ".SH SEE ALSO\n"
        "The user guide \\fIdocs/guide.md\\fR and the para integration contract \\fIdocs/para\\-integration.md\\fR\n"
        "in the source tree.\n";
  return os.str();
}

std::string bash_completion() {
  const auto commands = command_reference();
  std::ostringstream os;
  std::string names;
  for (const auto& c : commands) names += (names.empty() ? "" : " ") + c.name;
  os << "# bash completion for para-broker. Generated by 'para-broker completion bash'; do not edit.\n"
     << "_para_broker() {\n"
     << "  local cur=${COMP_WORDS[COMP_CWORD]} cmd='' sub='' i w\n"
     << "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
     << "    w=${COMP_WORDS[i]}\n"
     << "    case $w in -*) continue ;; esac\n"
     << "    if [[ -z $cmd ]]; then cmd=$w; elif [[ -z $sub ]]; then sub=$w; fi\n"
     << "  done\n"
     << "  local words\n"
     << "  case $cmd in\n"
     << "  '') words='" << names << " --help --version' ;;\n";
  for (const auto& c : commands) {
    if (c.subcommands.empty()) {
      os << "  " << c.name << ") words='" << words_of(c) << "' ;;\n";
      continue;
    }
    os << "  " << c.name << ")\n    case $sub in\n";
    for (const auto& s : c.subcommands) os << "    " << s.name << ") words='" << words_of(s) << "' ;;\n";
    os << "    *) words='" << words_of(c) << "' ;;\n    esac\n    ;;\n";
  }
  os << "  *) words='' ;;\n"
     << "  esac\n"
     << "  mapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
     << "  if ((${#COMPREPLY[@]} == 0)) && [[ $cur != -* ]]; then\n"
     << "    mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
     << "  fi\n"
     << "}\n"
     << "complete -F _para_broker para-broker\n";
  return os.str();
}

std::string zsh_completion() {
  const auto commands = command_reference();
  std::ostringstream os;
  os << "#compdef para-broker\n"
     << "# zsh completion for para-broker. Generated by 'para-broker completion zsh'; do not edit.\n"
     << "_para_broker() {\n"
     << "  local -a commands\n"
     << "  commands=(\n";
  for (const auto& c : commands) os << "    '" << zsh_text(c.name) << ":" << zsh_text(c.summary) << "'\n";
  os << "  )\n"
     << "  if (( CURRENT == 2 )); then\n"
     << "    _describe -t commands 'para-broker command' commands\n"
     << "    return\n"
     << "  fi\n"
     << "  local cmd=$words[2]\n"
     << "  shift words\n"
     << "  (( CURRENT-- ))\n"
     << "  case $cmd in\n";
  for (const auto& c : commands) {
    os << "  " << c.name << ")\n";
    if (!c.subcommands.empty()) {
      os << "    local -a subs\n    subs=(\n";
      for (const auto& s : c.subcommands) os << "      '" << zsh_text(s.name) << ":" << zsh_text(s.summary) << "'\n";
      os << "    )\n"
         << "    if (( CURRENT == 2 )); then\n"
         << "      _describe -t commands '" << c.name << " command' subs\n"
         << "      return\n"
         << "    fi\n"
         << "    local sub=$words[2]\n"
         << "    shift words\n"
         << "    (( CURRENT-- ))\n"
         << "    case $sub in\n";
      for (const auto& s : c.subcommands) {
        os << "    " << s.name << ")\n";
        zsh_arguments(os, s, "      ");
        os << "      ;;\n";
      }
      os << "    esac\n";
    } else {
      zsh_arguments(os, c, "    ");
    }
    os << "    ;;\n";
  }
  os << "  esac\n"
     << "}\n"
     << "_para_broker \"$@\"\n";
  return os.str();
}

}  // namespace pb::broker::commands
