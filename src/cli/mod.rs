//! The command line (docs/reference.md, "The command line").
//!
//! ```text
//! kubedx diagnose KIND/NAME [-n NS] [--snapshot PATH]... [-o table|json|yaml|markdown|dot]
//!                 [--rule-sets LIST] [--min-severity S] [--fail-on S] [--now RFC3339]
//!                 [--expected-image CONTAINER=DIGEST]... [--logs] [--kubeconfig FILE] [--context NAME]
//! kubedx diagnose --all-namespaces [same options]
//! kubedx controller [--metrics-addr ADDR] [--leader-election] [--admin-namespaces LIST]
//! kubedx crd
//! kubedx rules [-o table|json|markdown]
//! kubedx completion bash|zsh|fish|elvish|powershell
//! ```
//!
//! Installed as `kubectl-dx` it is the kubectl plugin `kubectl dx ...`: the name in
//! usage and completions comes from argv[0].
//!
//! Exit codes: 0 the diagnosis ran; 1 it could not run; 2 usage error; 3 a finding
//! at or above `--fail-on`. Diagnostics go to stderr through `tracing` (`RUST_LOG`);
//! stdout holds only the requested output.

mod catalog;
mod diagnose;

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand};
use jiff::Timestamp;

use crate::api::{ExpectedImage, RuleSetName, Severity};
use crate::report::Format;

pub use catalog::CatalogFormat;

/// Exit code: the diagnosis ran (and nothing reached `--fail-on`).
pub const EXIT_OK: i32 = 0;
/// Exit code: the diagnosis could not run (unreadable input, cluster unreachable, forbidden).
pub const EXIT_ERROR: i32 = 1;
/// Exit code: usage error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: a finding at or above `--fail-on` is present.
pub const EXIT_FAIL_ON: i32 = 3;

/// Every exit code with its meaning, as docs/reference.md lists them.
pub const EXIT_CODES: [(i32, &str); 4] = [
    (
        EXIT_OK,
        "the command ran; for `diagnose`, the diagnosis ran and no finding reached `--fail-on`",
    ),
    (
        EXIT_ERROR,
        "it could not run: unreadable input, cluster unreachable, forbidden, the output could not be written",
    ),
    (
        EXIT_USAGE,
        "usage error: a missing or unknown argument, a bad value, an unknown kind",
    ),
    (
        EXIT_FAIL_ON,
        "`diagnose --fail-on S`: a finding at or above severity S is present",
    ),
];

#[derive(Debug, Parser)]
#[command(
    name = "kubedx",
    version,
    about = "Kubernetes diagnosis: walks a target's object graph, finds the broken edge and names the root cause",
    long_about = None,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose a workload, Service, Ingress, HTTPRoute, PVC, Node or Namespace
    Diagnose(DiagnoseArgs),
    /// Run the Diagnosis controller
    Controller(ControllerArgs),
    /// Print the Diagnosis CRD YAML
    Crd,
    /// Print the rule catalog
    Rules(RulesArgs),
    /// Print a shell completion script (e.g. `source <(kubedx completion bash)`)
    Completion {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["target", "all_namespaces"])))]
pub struct DiagnoseArgs {
    /// The target: KIND/NAME or KIND NAME. KIND takes kubectl's names and short names,
    /// any case (deploy, sts, ds, rs, po, svc, ing, pvc, no, ns, job, cj, httproute...)
    #[arg(value_name = "KIND/NAME", num_args = 1..=2)]
    pub target: Vec<String>,

    /// Namespace of the target (unused for Node and Namespace targets). Default: the
    /// kubeconfig context's namespace when live, `default` for a snapshot
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,

    /// Diagnose every Namespace, every Node and the cluster DNS, as one report
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// Read objects from `kubectl get -o yaml|json` output (a file or a directory,
    /// read recursively) instead of a cluster; repeatable
    #[arg(long = "snapshot", value_name = "PATH")]
    pub snapshots: Vec<PathBuf>,

    /// Output format
    #[arg(short = 'o', long, value_name = "FORMAT", default_value = "table", value_parser = parse_format)]
    pub output: Format,

    /// Rule sets to evaluate, comma separated (default: all)
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_rule_set)]
    pub rule_sets: Vec<RuleSetName>,

    /// Drop findings below this severity: Info, Warning or Critical
    #[arg(long, value_name = "S", default_value = "Info", value_parser = parse_severity)]
    pub min_severity: Severity,

    /// Exit with 3 when a finding at or above this severity is present
    #[arg(long, value_name = "S", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,

    /// The time age-based rules compare with (RFC 3339). Default: the clock when live;
    /// for a snapshot, the newest timestamp it holds
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<Timestamp>,

    /// The image digest a container must be running (CONTAINER=sha256:...); repeatable
    #[arg(long = "expected-image", value_name = "CONTAINER=DIGEST", value_parser = parse_expected_image)]
    pub expected_images: Vec<ExpectedImage>,

    /// Read container logs as evidence (live mode only; logs can hold secrets)
    #[arg(long)]
    pub logs: bool,

    /// Path to the kubeconfig file (live mode)
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (live mode)
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

pub use crate::controller::cmd::ControllerArgs;

#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// Output format
    #[arg(short = 'o', long, value_name = "FORMAT", default_value = "table", value_parser = parse_catalog_format)]
    pub output: CatalogFormat,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

fn parse_catalog_format(s: &str) -> Result<CatalogFormat, String> {
    s.parse()
}

fn parse_rule_set(s: &str) -> Result<RuleSetName, String> {
    RuleSetName::parse(s).ok_or_else(|| {
        let all: Vec<&str> = RuleSetName::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown rule set {s:?} (one of {})", all.join(", "))
    })
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    [Severity::Info, Severity::Warning, Severity::Critical]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| format!("unknown severity {s:?} (Info, Warning or Critical)"))
}

fn parse_now(s: &str) -> Result<Timestamp, String> {
    s.trim()
        .parse::<Timestamp>()
        .map_err(|e| format!("not an RFC 3339 time such as 2026-03-12T14:31:05Z: {e}"))
}

fn parse_expected_image(s: &str) -> Result<ExpectedImage, String> {
    let (container, digest) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not CONTAINER=DIGEST"))?;
    let container = container.trim();
    let digest = digest.trim();
    if container.is_empty() {
        return Err(format!("{s:?}: the container name is empty"));
    }
    let ok = digest.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if !ok {
        return Err(format!(
            "{digest:?} is not a digest like sha256:<64 lowercase hex digits>"
        ));
    }
    Ok(ExpectedImage {
        container: container.to_owned(),
        digest: digest.to_owned(),
    })
}

/// A usage error of a subcommand, printed the way clap prints its own (exit 2).
fn usage_error(subcommand: &str, message: impl std::fmt::Display) -> i32 {
    let mut cmd = Cli::command();
    cmd.build();
    let err = match cmd.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(ErrorKind::InvalidValue, message),
        None => cmd.error(ErrorKind::InvalidValue, message),
    };
    let _ = err.print();
    err.exit_code()
}

/// An error that stops a run (exit 1).
fn fatal(message: impl std::fmt::Display) -> i32 {
    eprintln!("error: {message}");
    EXIT_ERROR
}

/// Writes the output; a closed pipe (`| head`) is not an error.
fn emit(s: &str) -> i32 {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => fatal(format!("writing the output: {e}")),
    }
}

/// Logs go to standard error, coloured only on a terminal (a controller's log read
/// with `kubectl logs` or shipped to a log store carries no escape codes) and
/// timestamped for the long-running controller.
fn init_tracing(default_level: &str, timestamps: bool) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let _ = if timestamps {
        builder.try_init()
    } else {
        builder.without_time().try_init()
    };
}

/// The CRD YAML generated from [`crate::api::Diagnosis`].
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_norway::to_string(&crate::api::Diagnosis::crd()).expect("the CRD serializes")
}

/// Runs the command line with the process arguments; returns the exit code.
pub fn main() -> i32 {
    run(std::env::args_os())
}

/// Runs the command line with `args` (the first is the program name).
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut cmd = Cli::command().bin_name(bin_name(args.first()));
    let cli = match cmd
        .try_get_matches_from_mut(&args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match cli.command {
        Command::Controller(_) => init_tracing("info", true),
        _ => init_tracing("warn", false),
    }
    match cli.command {
        Command::Diagnose(a) => diagnose::run(&a),
        Command::Crd => emit(&crd_yaml()),
        Command::Rules(a) => emit(&catalog::render(a.output)),
        Command::Controller(a) => crate::controller::cmd::main(a),
        Command::Completion { shell } => {
            let mut out = Vec::new();
            // the executable's name: `kubectl dx` completes as `kubectl-dx`
            let name = cmd.get_bin_name().unwrap_or("kubedx").replace(' ', "-");
            clap_complete::generate(shell, &mut Cli::command(), name, &mut out);
            emit(&String::from_utf8_lossy(&out))
        }
    }
}

/// The program name for usage and completions: `kubectl dx` when installed as the
/// kubectl plugin `kubectl-dx` (kubectl runs it with its path as argv[0]), else `kubedx`.
fn bin_name(argv0: Option<&OsString>) -> String {
    let file = argv0
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match file
        .strip_suffix(".exe")
        .unwrap_or(&file)
        .strip_prefix("kubectl-")
    {
        // kubectl maps `_` in a plugin's file name to `-` in its command
        Some(plugin) if !plugin.is_empty() => format!("kubectl {}", plugin.replace('_', "-")),
        _ => "kubedx".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubedx").chain(args.iter().copied()))
    }

    fn diag(args: &[&str]) -> DiagnoseArgs {
        match parse(args).unwrap_or_else(|e| panic!("{e}")).command {
            Command::Diagnose(a) => a,
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn diagnose_flags_parse() {
        let a = diag(&[
            "diagnose",
            "deploy/web",
            "-n",
            "shop",
            "--snapshot",
            "a",
            "--snapshot",
            "b",
            "-o",
            "json",
            "--rule-sets",
            "workload,Networking",
            "--min-severity",
            "warning",
            "--fail-on",
            "Critical",
            "--now",
            "2026-03-12T14:31:05Z",
            "--expected-image",
            &format!("app=sha256:{}", "a".repeat(64)),
            "--logs",
            "--kubeconfig",
            "/k",
            "--context",
            "c",
        ]);
        assert_eq!(a.target, ["deploy/web"]);
        assert_eq!(a.namespace.as_deref(), Some("shop"));
        assert_eq!(a.snapshots.len(), 2);
        assert_eq!(a.output, Format::Json);
        assert_eq!(
            a.rule_sets,
            [RuleSetName::Workload, RuleSetName::Networking]
        );
        assert_eq!(a.min_severity, Severity::Warning);
        assert_eq!(a.fail_on, Some(Severity::Critical));
        assert_eq!(a.now.unwrap().to_string(), "2026-03-12T14:31:05Z");
        assert_eq!(a.expected_images[0].container, "app");
        assert!(a.logs);
        let b = diag(&["diagnose", "deploy", "web"]);
        assert_eq!(b.target, ["deploy", "web"]);
        assert_eq!(b.namespace, None);
        assert_eq!(b.output, Format::Table);
        assert!(diag(&["diagnose", "-A"]).all_namespaces);
    }

    #[test]
    fn usage_errors() {
        for args in [
            &["diagnose"][..],
            &["diagnose", "deploy/web", "--all-namespaces"],
            &["diagnose", "deploy/web", "--rule-sets", "workload,bogus"],
            &["diagnose", "deploy/web", "--fail-on", "fatal"],
            &["diagnose", "deploy/web", "--now", "yesterday"],
            &["diagnose", "deploy/web", "-o", "xml"],
            &["diagnose", "deploy/web", "--expected-image", "app=latest"],
            &["diagnose", "a", "b", "c"],
            &["rules", "-o", "dot"],
        ] {
            let e = parse(args).expect_err(&format!("{args:?} should not parse"));
            assert_eq!(e.exit_code(), EXIT_USAGE, "{args:?}");
        }
    }

    #[test]
    fn bin_name_follows_argv0() {
        let name = |s: &str| bin_name(Some(&OsString::from(s)));
        assert_eq!(name("/usr/local/bin/kubectl-dx"), "kubectl dx");
        assert_eq!(name("kubectl-dx"), "kubectl dx");
        assert_eq!(name("target/debug/kubedx"), "kubedx");
        assert_eq!(bin_name(None), "kubedx");
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
