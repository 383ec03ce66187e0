//! Command-line interface (clap). Each subcommand's settings come from its flag, then its
//! environment variable, then the config file (see `settings.rs`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "bld-remote",
    version,
    about = "Run Blender for LLM agents: start it, run Python in it, and serve it over MCP",
    after_help = "Examples:\n  bld-remote start --background --detach\n  bld-remote exec \"import bpy; len(bpy.data.objects)\"\n  bld-remote status\n  bld-remote stop"
)]
pub struct Cli {
    /// Config file [default: the platform config dir, e.g. ~/.config/bld-remote/config.toml]
    #[arg(long, global = true, env = "BLD_REMOTE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// More log output on stderr (-v: debug, -vv: trace); RUST_LOG also works
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(flatten)]
    pub trust: TrustArgs,

    #[command(subcommand)]
    pub command: Commands,
}

/// Whom the client trusts (docs/protocol.md §1a). By default only a Blender that proves the
/// token of its port, found in a private file of this user's.
#[derive(Debug, Clone, Default, Args)]
pub struct TrustArgs {
    /// Accept a Blender whose server has authentication off (started with --no-auth, or the
    /// addon's "Require token" unticked); anyone could be answering such a port
    #[arg(long, global = true, env = "BLD_REMOTE_ALLOW_NO_AUTH", value_parser = clap::builder::FalseyValueParser::new())]
    pub allow_no_auth: bool,
    /// Token file to prove instead of the one the addon writes for the port (for a Blender on
    /// another host, or reached through a tunnel); it must be private (0600, yours)
    #[arg(
        long,
        global = true,
        env = "BLD_REMOTE_TOKEN_FILE",
        value_name = "PATH"
    )]
    pub token_file: Option<PathBuf>,
    /// The address Blender listens on, when you reach it through an SSH tunnel or port forward
    /// on another address or port (e.g. 127.0.0.1:6688): the handshake proves that address
    #[arg(
        long,
        global = true,
        env = "BLD_REMOTE_SERVER_ADDRESS",
        value_name = "IP:PORT"
    )]
    pub server_address: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    Start(StartArgs),
    Status(StatusArgs),
    Stop(StopArgs),
    Exec(ExecArgs),
    InstallAddon(InstallAddonArgs),
    Doctor(DoctorArgs),
    Demo(DemoArgs),
    Mcp(McpArgs),
}

/// Where to find a running Blender.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Port of the Blender to talk to [default: the only running instance, else 6688]
    #[arg(long, short, env = "BLD_REMOTE_PORT")]
    pub port: Option<u16>,
    /// Address of the Blender to talk to [default: 127.0.0.1]
    #[arg(long, env = "BLD_REMOTE_HOST")]
    pub host: Option<String>,
}

/// Start Blender with the addon and wait until it answers.
///
/// Finds Blender (--blender, BLENDER_PATH, the config file, PATH, then the usual install
/// places), starts it with the addon built into this binary, waits until it answers and prints
/// its port, pid and version. In the foreground (default), Ctrl-C or SIGTERM shuts Blender down
/// cleanly and the exit code is Blender's; with --detach the command returns once Blender is
/// ready and `bld-remote stop` ends it.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  bld-remote start --background --detach\n  bld-remote start --gui --file scene.blend\n  bld-remote start --port 0 --detach --json\n  bld-remote start --gui --label gui --file scene.blend"
)]
pub struct StartArgs {
    /// Headless Blender (the default)
    #[arg(long, short, conflicts_with = "gui")]
    pub background: bool,
    /// Blender with its window, on the current display
    #[arg(long, short)]
    pub gui: bool,
    /// Port to listen on; 0 picks a free one [default: 6688]
    #[arg(long, short, env = "BLD_REMOTE_PORT")]
    pub port: Option<u16>,
    /// Address to listen on [default: 127.0.0.1]
    #[arg(long, env = "BLD_REMOTE_HOST")]
    pub host: Option<String>,
    /// Blender executable, or a Python that has the bpy module (background only)
    #[arg(long, value_name = "PATH")]
    pub blender: Option<PathBuf>,
    /// .blend file to open
    #[arg(long, short, value_name = "X.blend")]
    pub file: Option<PathBuf>,
    /// Return once Blender is ready, leaving it running
    #[arg(long, short)]
    pub detach: bool,
    /// Seconds to wait for Blender to answer [default: 120]
    #[arg(long, env = "BLD_REMOTE_READY_TIMEOUT", value_name = "S")]
    pub ready_timeout: Option<f64>,
    /// Print the instance as JSON
    #[arg(long)]
    pub json: bool,
    /// Serve clients that send no token (blender-remote 1.3.3): any local process can then run
    /// code in this Blender. Refused for a non-loopback --host
    #[arg(long)]
    pub no_auth: bool,
    /// Guard mode, a seatbelt rather than a sandbox: code that starts programs, opens network
    /// sockets or writes files outside the allowed folders fails with `guard_refused`
    #[arg(long)]
    pub guard: bool,
    /// A folder code may write to in guard mode (repeatable) [default: the temp dir]
    #[arg(long, value_name = "DIR", requires = "guard")]
    pub guard_allow: Vec<PathBuf>,
    /// A name to pick this Blender by: `bld-remote status` shows it, and MCP tools take it as
    /// `blender` (e.g. `gui`, `bake`)
    #[arg(long, value_name = "NAME", value_parser = parse_label)]
    pub label: Option<String>,
}

/// Labels are short names an agent types: letters, digits, `-`, `_`, `.`; not a number (that
/// would read as a pid) and not a word `blender` already means (`any`, `pool`).
fn parse_label(label: &str) -> Result<String, String> {
    let ok = !label.is_empty()
        && label.len() <= 64
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !label.chars().all(|c| c.is_ascii_digit())
        && !matches!(label, "any" | "pool");
    if ok {
        Ok(label.to_owned())
    } else {
        Err(
            "up to 64 letters, digits, '-', '_' or '.'; not only digits; not `any` or `pool`"
                .into(),
        )
    }
}

/// List the Blenders started by bld-remote: reachable or not, mode, version, uptime, queue.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  bld-remote status\n  bld-remote status --json")]
pub struct StatusArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

/// Stop a Blender started by bld-remote.
///
/// Sends a shutdown request, then SIGTERM, then SIGKILL after the grace period; only ever to
/// processes that bld-remote started and recorded.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  bld-remote stop\n  bld-remote stop --port 6688\n  bld-remote stop --all"
)]
pub struct StopArgs {
    /// Port of the instance to stop [default: the only running instance]; ignored with --all
    /// (not a clap conflict: BLD_REMOTE_PORT in the environment must not break `stop --all`)
    #[arg(long, short, env = "BLD_REMOTE_PORT")]
    pub port: Option<u16>,
    /// Stop every recorded instance
    #[arg(long)]
    pub all: bool,
    /// Seconds to wait after the shutdown request before SIGTERM, and after SIGTERM before SIGKILL [default: 10]
    #[arg(long, env = "BLD_REMOTE_STOP_GRACE", value_name = "S")]
    pub grace: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecMode {
    Sync,
    Async,
}

/// Run Python in Blender and print what it produced.
///
/// Prints the code's stdout and stderr, then its result (the value of the last expression, or
/// `_result`) as JSON, or the error with its traceback. Exit code: 0 success, 1 the code failed
/// or was cancelled, 3 no Blender reachable, 4 timeout.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  bld-remote exec \"import bpy; [o.name for o in bpy.data.objects]\"\n  bld-remote exec -f script.py --timeout 300\n  echo \"1 + 1\" | bld-remote exec -\n  bld-remote exec --json \"bpy.data.objects['Cube'].location\""
)]
pub struct ExecArgs {
    /// Python code, or `-` to read it from stdin
    #[arg(conflicts_with = "file", required_unless_present = "file")]
    pub code: Option<String>,
    /// Read the code from this file
    #[arg(long, short, value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub target: Target,
    /// sync waits for the result; async queues a job and prints its id
    #[arg(long, value_enum, default_value_t = ExecMode::Sync)]
    pub mode: ExecMode,
    /// Seconds the code may run before it is stopped [default: 30]
    #[arg(long, short, env = "BLD_REMOTE_TIMEOUT", value_name = "S")]
    pub timeout: Option<f64>,
    /// Print the reply envelope as JSON
    #[arg(long)]
    pub json: bool,
}

/// Install and enable the addon in your Blender, for use with its window.
///
/// Runs Blender itself to install the addon (an extension on Blender 4.2+) and save the
/// preferences, as its own preferences window does; also writes a zip for "Install from Disk".
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  bld-remote install-addon\n  bld-remote install-addon --blender /opt/blender-4.2/blender\n  bld-remote install-addon --zip-only --zip ./bld_remote_mcp.zip"
)]
pub struct InstallAddonArgs {
    /// Blender executable to install into
    #[arg(long, value_name = "PATH")]
    pub blender: Option<PathBuf>,
    /// Where to write the zip [default: the cache dir]
    #[arg(long, value_name = "PATH")]
    pub zip: Option<PathBuf>,
    /// Only write the zip, do not run Blender
    #[arg(long)]
    pub zip_only: bool,
}

/// Check the setup: Blender, its version, the addon, the port, the protocol.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  bld-remote doctor\n  bld-remote doctor --port 7000")]
pub struct DoctorArgs {
    #[command(flatten)]
    pub target: Target,
    /// Blender executable to check
    #[arg(long, value_name = "PATH")]
    pub blender: Option<PathBuf>,
}

/// An MCP session against a headless Blender started on the spot: builds a scene, shows the
/// structured results, saves a preview PNG, stops Blender.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  bld-remote demo\n  bld-remote demo --preview /tmp/scene.png")]
pub struct DemoArgs {
    /// Blender executable
    #[arg(long, value_name = "PATH")]
    pub blender: Option<PathBuf>,
    /// Where to write the preview PNG
    #[arg(long, value_name = "PATH", default_value = "demo-preview.png")]
    pub preview: PathBuf,
}

/// Serve Blender to MCP clients: one over stdio (Claude Desktop, Cursor, …), or any number over
/// Streamable HTTP with --http.
///
/// Starts without a Blender and connects on the first tool call: to --port, BLD_REMOTE_PORT,
/// the config file's port, or the only Blender started by `bld-remote start`. stdout carries
/// only MCP messages; logs go to stderr.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  bld-remote mcp\n  bld-remote mcp --port 6688\n  bld-remote mcp --spawn --http 127.0.0.1:8765\n  bld-remote mcp --spawn --blender /opt/blender-4.2/blender\n  bld-remote mcp --http 127.0.0.1:8765 --pool 4 --pool-warm 1\n  Claude Desktop: {\"mcpServers\": {\"blender\": {\"command\": \"bld-remote\", \"args\": [\"mcp\", \"--spawn\"]}}}\n  (MCP clients do not pass your shell's environment on: pick a Blender with --blender, the\n  config file's `blender`, or BLENDER_PATH in the client config's \"env\")"
)]
pub struct McpArgs {
    /// Port of the Blender to use [default: the only running instance, else 6688]
    #[arg(long, short, env = "BLD_REMOTE_PORT")]
    pub port: Option<u16>,
    /// Address of the Blender to use [default: 127.0.0.1]
    #[arg(long, env = "BLD_REMOTE_HOST")]
    pub host: Option<String>,
    /// When no Blender answers, start a headless one, restart it if it dies, stop it at the end
    #[arg(long, env = "BLD_REMOTE_SPAWN", value_parser = clap::builder::FalseyValueParser::new())]
    pub spawn: bool,
    /// The Blender --spawn starts: an executable, or a Python with the bpy module [default:
    /// BLENDER_PATH, the config's `blender`, then PATH and the usual install places]
    #[arg(long, value_name = "PATH")]
    pub blender: Option<PathBuf>,
    /// When code in the Blender started by --spawn is stuck in a long C call past its timeout:
    /// `restart` kills that Blender and starts a fresh one (its scene is lost), `wait` leaves it.
    /// A Blender this server did not start is never killed
    #[arg(
        long,
        env = "BLD_REMOTE_ON_STUCK",
        value_enum,
        default_value = "restart"
    )]
    pub on_stuck: OnStuck,
    /// Serve MCP Streamable HTTP at http://ADDR/mcp instead of stdio (ADDR: IP:PORT or
    /// localhost:PORT; port 0 picks a free one). Clients send `Authorization: Bearer <token>`:
    /// the token is BLD_REMOTE_HTTP_TOKEN, else made at start and written 0600 to the state dir
    /// (the path, URL and a client config are printed on stderr)
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Allow --http to bind an address that is not loopback (never without a token). Plain
    /// HTTP: put a TLS reverse proxy in front
    #[arg(long, requires = "http")]
    pub allow_remote: bool,
    /// Also accept this `Host` header (name or name:port), e.g. the name clients reach a remote
    /// bind by [default: localhost, 127.0.0.1 and [::1] with the bound port]
    #[arg(long, value_name = "HOST", requires = "http")]
    pub allow_host: Vec<String>,
    /// Also accept requests with this `Origin` (scheme://host:port) [default: http:// with
    /// localhost, 127.0.0.1 and [::1] and the bound port; requests without Origin pass]
    #[arg(long, value_name = "ORIGIN", requires = "http")]
    pub allow_origin: Vec<String>,
    /// No bearer token over HTTP: any local process (and any web page that gets past the Host
    /// and Origin checks) can run code in Blender. Refused with a non-loopback bind
    #[arg(long, requires = "http")]
    pub no_auth: bool,
    /// An HTTP session that has seen no request, reply or notification for this long is closed,
    /// and its Python namespace with it (a client that vanished without closing its session
    /// would otherwise hold a connection to Blender forever). A single call longer than this
    /// ends its session too: raise it for long renders
    #[arg(long, value_name = "SECS", default_value_t = 3600.0, requires = "http")]
    pub session_idle_timeout: f64,
    /// A session handle (new_session) unused for this long expires: Blender forgets its Python
    /// variables, and a call naming it is told so. A handle with a call running never expires
    #[arg(long, value_name = "SECS", default_value_t = 3600.0)]
    pub handle_idle_timeout: f64,
    /// How long a stopping HTTP server (SIGTERM, SIGINT) lets calls in flight finish
    #[arg(long, value_name = "SECS", default_value_t = 30.0, requires = "http")]
    pub drain_timeout: f64,
    /// A pool of up to N headless Blenders, started on demand: each MCP session (or session
    /// handle) leases one for its life, reset to a clean baseline between leases; calls without
    /// `blender` go to it. Blenders you run stay reachable by name (`blender`)
    #[arg(long, value_name = "N", env = "BLD_REMOTE_POOL", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub pool: Option<u16>,
    /// Pool workers kept started ahead of demand (a lease of a started one takes milliseconds,
    /// a cold start about a second)
    #[arg(
        long,
        value_name = "K",
        default_value_t = 0,
        env = "BLD_REMOTE_POOL_WARM"
    )]
    pub pool_warm: u16,
    /// The .blend every pool worker starts from and is reset to [default: factory startup]
    #[arg(long, value_name = "FILE", env = "BLD_REMOTE_POOL_BLEND")]
    pub pool_blend: Option<PathBuf>,
    /// How long a session waits for a pool worker when all are leased, before its call fails
    /// saying so
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub pool_wait: f64,
    /// Sessions that may wait for a pool worker at once; more are refused at once
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub pool_queue: usize,
    /// A started pool worker nobody leased for this long (beyond --pool-warm) is stopped
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    pub pool_idle: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnStuck {
    Restart,
    Wait,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_an_example_in_its_help() {
        let cli = Cli::command();
        for sub in cli.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("bld-remote "),
                "{} has no example",
                sub.get_name()
            );
        }
    }

    #[test]
    fn background_and_gui_exclude_each_other() {
        let err =
            Cli::try_parse_from(["bld-remote", "start", "--gui", "--background"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn http_options_need_http() {
        for flag in ["--allow-remote", "--no-auth"] {
            let err = Cli::try_parse_from(["bld-remote", "mcp", flag]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        }
        assert!(
            Cli::try_parse_from(["bld-remote", "mcp", "--http", "127.0.0.1:0", "--no-auth"])
                .is_ok()
        );
    }

    #[test]
    fn exec_needs_code_or_a_file() {
        assert!(Cli::try_parse_from(["bld-remote", "exec"]).is_err());
        assert!(Cli::try_parse_from(["bld-remote", "exec", "-f", "x.py"]).is_ok());
        assert!(Cli::try_parse_from(["bld-remote", "exec", "1", "-f", "x.py"]).is_err());
    }
}
