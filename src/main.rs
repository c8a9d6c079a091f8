use std::process::ExitCode;

use clap::Parser;
use prometheus_replica_operator::cli::Cli;

fn main() -> ExitCode {
    Cli::parse().run()
}
