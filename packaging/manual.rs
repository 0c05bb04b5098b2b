//! Writes the man pages and shell completions the packages install, from the same clap
//! definitions the program parses its command line with (`accesslog_pubsub::cli::Cli`), so
//! they can never disagree with `--help`.
//!
//! `cargo run --release --example manual -- OUT_DIR` writes:
//!
//! - `OUT_DIR/man/accesslog-pubsub.1` and one page per subcommand
//!   (`accesslog-pubsub-parse.1`, `accesslog-pubsub-spool-status.1`, ...);
//! - `OUT_DIR/completions/accesslog-pubsub.bash`, `_accesslog-pubsub` (zsh) and
//!   `accesslog-pubsub.fish`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use accesslog_pubsub::cli::Cli;
use clap::CommandFactory;
use clap_complete::Shell;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: manual OUT_DIR");
        return ExitCode::from(2);
    };
    match write_all(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("manual: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn write_all(out: &Path) -> std::io::Result<()> {
    let man = out.join("man");
    fs::create_dir_all(&man)?;
    clap_mangen::generate_to(Cli::command(), &man)?;

    let completions = out.join("completions");
    fs::create_dir_all(&completions)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), "accesslog-pubsub", &completions)?;
    }
    Ok(())
}
