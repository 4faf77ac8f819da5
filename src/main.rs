//! The `lifelapse` command: parses arguments, loads the config and hands off to [`cli`], which
//! runs the subcommand and prints what happened for a person (or as JSON for a script).

mod cli;

use clap::Parser;
use cli::exit;
use lifelapse::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Examples:
  lifelapse render samples/ -o lapse.gif            a time-lapse of a folder of photos
  lifelapse analyze photos/*.jpg --born 1942-11-20  what lifelapse sees in each photo
  lifelapse bench --json                            timings on this machine

Exit codes: 0 done (unusable photos are listed and skipped), 1 unexpected failure,
2 bad command line or config, 3 no usable photos, 4 output could not be written.
Settings come from config.toml (or LIFELAPSE_CONFIG), each overridable as LIFELAPSE_<SECTION>_<KEY>.";

#[derive(Parser)]
#[command(name = "lifelapse", version, about = "Turns photos of one person into a time-lapse of them growing up.", after_help = AFTER_HELP)]
struct Cli {
    /// Config file (default: $LIFELAPSE_CONFIG, else ./config.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: cli::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    init_logging(&config, cli.verbose);
    match cli::run(cli.command, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", lifelapse::chain::Chain(failure.error.as_ref()));
            ExitCode::from(failure.code)
        }
    }
}

fn init_logging(config: &Config, verbose: u8) {
    let filter = match verbose {
        0 => std::env::var("RUST_LOG").unwrap_or_else(|_| config.general.log.clone()),
        1 => "info".into(),
        _ => "debug".into(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colours only on a terminal: logs that go to a file or a collector stay plain text.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
