//! The command line: `serve`, `render`, `crd`, `certs`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::{render, server, tls};

/// A stateless Metacontroller sync hook that runs Prometheus with Thanos from one PrometheusReplica object.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTPS hook server and the plain-HTTP admin server.
    // Boxed: its many flags would make every other variant as large.
    Serve(Box<server::ServeArgs>),
    /// Render the children of a PrometheusReplica manifest (YAML or JSON) or of a sync request (JSON).
    Render(RenderArgs),
    /// Print the PrometheusReplica CustomResourceDefinition as YAML.
    Crd,
    /// Write a CA and a serving certificate for the hook's Service.
    Certs(tls::CertsArgs),
}

#[derive(clap::Args, Debug)]
struct RenderArgs {
    /// The input file; `-` reads standard input.
    file: PathBuf,
    /// `yaml`: the children as a multi-document YAML stream; `json`: the whole sync response.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Yaml)]
    output: Output,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Output {
    Yaml,
    Json,
}

impl Cli {
    /// Run the chosen command; errors are printed to standard error.
    pub fn run(self) -> ExitCode {
        let result = match self.command {
            Command::Serve(args) => server::run(*args),
            Command::Render(args) => render_command(&args),
            Command::Crd => {
                print!("{}", render::crd_yaml());
                Ok(())
            }
            Command::Certs(args) => tls::write_certs(&args),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    }
}

fn render_command(args: &RenderArgs) -> Result<(), String> {
    crate::logging::init_cli();
    let input = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| format!("reading standard input: {e}"))?
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| format!("reading {}: {e}", args.file.display()))?
    };
    let request = render::request_from_file(&input).map_err(|e| e.to_string())?;
    let response = crate::sync(&request).map_err(|e| e.to_string())?;
    let out = match args.output {
        Output::Json => render::to_json_pretty(&response).map_err(|e| e.to_string())?,
        Output::Yaml => render::to_yaml_stream(&response.children).map_err(|e| e.to_string())?,
    };
    print!("{out}");
    Ok(())
}
