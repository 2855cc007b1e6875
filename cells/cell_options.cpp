#include "cell_options.hpp"

#include <boost/asio/ip/address.hpp>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <system_error>

namespace cell::demo {
namespace {

constexpr std::size_t kMaxNameLength = 128;
constexpr unsigned kMaxThreads = 256;

// Returns the error text, empty when valid. The name ends up in a response header and in
// JSON, so anything that could break a header line is refused up front.
std::string validate_name(const std::string& name) {
  if (name.empty()) {
    return "cell name must not be empty";
  }
  if (name.size() > kMaxNameLength) {
    return "cell name is longer than 128 characters";
  }
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x21 || byte > 0x7e) {
      return "cell name '" + name + "' must contain only visible ASCII characters";
    }
  }
  return {};
}

template <typename Integer>
std::optional<Integer> parse_integer(const std::string& text) {
  Integer value{};
  const char* first = text.data();
  const char* last = first + text.size();
  const auto [end, ec] = std::from_chars(first, last, value);
  if (text.empty() || ec != std::errc{} || end != last) {
    return std::nullopt;
  }
  return value;
}

std::optional<double> parse_fraction(const std::string& text) {
  double value = 0.0;
  const char* first = text.data();
  const char* last = first + text.size();
  const auto [end, ec] = std::from_chars(first, last, value);
  if (text.empty() || ec != std::errc{} || end != last || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::string apply_port(CellOptions& options, const std::string& text, const std::string& source) {
  const auto port = parse_integer<unsigned>(text);
  if (!port || *port > 65535) {
    return "invalid port '" + text + "' from " + source + " (expected 0..65535)";
  }
  options.port = static_cast<std::uint16_t>(*port);
  return {};
}

std::string apply_value(CellOptions& options, std::string_view flag, const std::string& value) {
  if (flag == "--name") {
    options.name = value;
    return validate_name(value);
  }
  if (flag == "--port") {
    return apply_port(options, value, "--port");
  }
  if (flag == "--listen") {
    boost::system::error_code ec;
    boost::asio::ip::make_address(value, ec);
    if (ec) {
      return "invalid listen address '" + value + "' (expected an IPv4 or IPv6 address)";
    }
    options.listen_address = value;
    return {};
  }
  if (flag == "--fail-rate") {
    const auto rate = parse_fraction(value);
    if (!rate || *rate < 0.0 || *rate > 1.0) {
      return "invalid fail rate '" + value + "' (expected a number in 0.0..1.0)";
    }
    options.fail_rate = *rate;
    return {};
  }
  if (flag == "--threads") {
    const auto threads = parse_integer<unsigned>(value);
    if (!threads || *threads == 0 || *threads > kMaxThreads) {
      return "invalid thread count '" + value + "' (expected 1..256)";
    }
    options.threads = *threads;
    return {};
  }
  return "unknown option '" + std::string(flag) + "'";
}

bool takes_value(std::string_view flag) {
  return flag == "--name" || flag == "--port" || flag == "--listen" || flag == "--fail-rate" ||
         flag == "--threads";
}

OptionsResult make_error(std::string message) {
  OptionsResult result;
  result.action = OptionsAction::error;
  result.error = std::move(message);
  return result;
}

// Empty variables count as unset: compose files often template them to "". Only variables
// whose flag was not given are consulted, so a stale bad value cannot veto an explicit flag.
std::string apply_environment(CellOptions& options, const EnvLookup& env, bool name_given,
                              bool port_given) {
  if (!env) {
    return {};
  }
  if (const auto name = env("CELL_NAME"); !name_given && name && !name->empty()) {
    if (auto error = validate_name(*name); !error.empty()) {
      return error + " (from CELL_NAME)";
    }
    options.name = *name;
  }
  if (const auto port = env("PORT"); !port_given && port && !port->empty()) {
    return apply_port(options, *port, "PORT");
  }
  return {};
}

}  // namespace

OptionsResult parse_options(const std::vector<std::string>& args, const EnvLookup& env) {
  OptionsResult result;
  bool name_given = false;
  bool port_given = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      result.action = OptionsAction::help;
      return result;
    }
    std::string flag = arg;
    std::optional<std::string> value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      flag = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (!takes_value(flag)) {
      if (!arg.starts_with("-")) {
        return make_error("unexpected argument '" + arg + "'");
      }
      return make_error("unknown option '" + flag + "'");
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return make_error("option '" + flag + "' requires a value");
      }
      value = args[++i];
    }
    if (auto error = apply_value(result.options, flag, *value); !error.empty()) {
      return make_error(std::move(error));
    }
    name_given = name_given || flag == "--name";
    port_given = port_given || flag == "--port";
  }
  if (auto error = apply_environment(result.options, env, name_given, port_given); !error.empty()) {
    return make_error(std::move(error));
  }
  return result;
}

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* value = std::getenv(name.c_str())) {
      return std::string(value);
    }
    return std::nullopt;
  };
}

std::string usage_text(const std::string& program) {
  return "Usage: " + program + " [options]\n"
         "\n"
         "Demo upstream cell for cellrouter: answers every request with a JSON echo.\n"
         "\n"
         "Options:\n"
         "  --name NAME        cell name reported in responses and logs\n"
         "                     (env CELL_NAME, default \"cell\")\n"
         "  --port N           TCP port, 0 picks an ephemeral port (env PORT, default 9000)\n"
         "  --listen ADDR      IPv4/IPv6 address to bind (default 0.0.0.0)\n"
         "  --fail-rate F      fraction 0.0..1.0 of requests answered 500 \"injected failure\"\n"
         "                     (never /health or /admin/*; default 0)\n"
         "  --threads N        threads, each with its own acceptor on the port via\n"
         "                     SO_REUSEPORT (1..256, default 1)\n"
         "  -h, --help         show this help and exit\n"
         "\n"
         "Flags also accept the --flag=value form. After binding, one line\n"
         "{\"event\":\"listening\",\"cell\":NAME,\"address\":ADDR,\"port\":N} is printed to stdout,\n"
         "followed by one JSON line per request.\n"
         "\n"
         "Endpoints: GET /health, POST /admin/health?status=fail|ok, POST /admin/fail-rate?rate=F,\n"
         "anything else echoes.\n"
         "Query controls: delay_ms, status, response_bytes (+chunked, close_delimited,\n"
         "pause_ms), abort_after, interim=103.\n";
}

}  // namespace cell::demo
