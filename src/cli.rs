//! The command line: `serve`, `render`, `crd`, `certs`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::hook::{Child, SyncResponse};
use crate::{Error, Result, api, server, tls};

mod input;

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
    /// Render the children of a PrometheusReplica manifest (YAML or JSON), with the ConfigMaps and Secrets it
    /// names if given, or of a sync request (JSON).
    Render(RenderArgs),
    /// Print the PrometheusReplica CustomResourceDefinition as YAML.
    Crd,
    /// Write a CA and a serving certificate for the hook's Service.
    Certs(tls::CertsArgs),
}

#[derive(clap::Args, Debug)]
struct RenderArgs {
    /// The input files (`-` reads standard input), YAML with any number of documents, or JSON: one
    /// PrometheusReplica and the ConfigMaps and Secrets it names, which are then rendered as Metacontroller sends
    /// them after the customize hook; or one whole sync request.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
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
                print!("{}", api::crd_yaml());
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
    let mut inputs = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let text = if file.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
                .map_err(|e| format!("reading standard input: {e}"))?
        } else {
            std::fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?
        };
        inputs.push((file.display().to_string(), text));
    }
    let request = input::request_from_files(&inputs).map_err(|e| e.to_string())?;
    let response = crate::sync(&request).map_err(|e| e.to_string())?;
    let out = match args.output {
        Output::Json => to_json_pretty(&response).map_err(|e| e.to_string())?,
        Output::Yaml => {
            // The YAML stream has the children only: what the status says goes to standard error.
            for line in attention(&response.status) {
                eprintln!("{line}");
            }
            to_yaml_stream(&response.children).map_err(|e| e.to_string())?
        }
    };
    print!("{out}");
    Ok(())
}

/// The status lines a user must not miss: each warning, and a `Degraded` condition that is true.
fn attention(status: &crate::api::PrometheusReplicaStatus) -> Vec<String> {
    let mut lines: Vec<String> = status
        .warnings
        .iter()
        .map(|w| format!("warning: {w}"))
        .collect();
    lines.extend(
        status
            .conditions
            .iter()
            .filter(|c| c.type_ == "Degraded" && c.status == "True")
            .map(|c| format!("degraded: {}: {}", c.reason, c.message)),
    );
    lines
}

/// The whole sync response as indented JSON.
pub fn to_json_pretty(response: &SyncResponse) -> Result<String> {
    serde_json::to_string_pretty(response)
        .map(|s| s + "\n")
        .map_err(|e| Error::Internal(format!("encoding the answer: {e}")))
}

/// The children as a multi-document YAML stream.
pub fn to_yaml_stream(children: &[Child]) -> Result<String> {
    let mut out = String::new();
    for child in children {
        out.push_str("---\n");
        out.push_str(
            &serde_yaml_ng::to_string(child)
                .map_err(|e| Error::Internal(format!("encoding a child: {e}")))?,
        );
    }
    Ok(out)
}
