//! The `kelp` binary: argument parsing and wiring of the library crates.

use clap::{Parser, Subcommand};

mod agent;
mod demo;
mod server;
mod simulate;
mod stream;
mod verify;

/// Kelp: cluster-level logging and resource metrics for Kubernetes, in one binary.
#[derive(Debug, Parser)]
#[command(name = "kelp", version, about, long_about = None)]
#[command(after_help = "Start with `kelp demo`: it runs everything on this machine.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ship this node's pod logs to a Kelp server, exactly once through rotation and crashes.
    #[command(after_help = agent::EXAMPLES)]
    Agent(agent::AgentArgs),
    /// Run an all-in-one demo on this machine (today: a simulated node writing pod logs).
    #[command(after_help = demo::EXAMPLES)]
    Demo(demo::DemoArgs),
    /// Write a Kubernetes node's pod log tree as containerd and the kubelet do.
    #[command(after_help = simulate::EXAMPLES)]
    Simulate(simulate::SimulateArgs),
    /// Serve the log store behind Loki's HTTP API (plus ES `_bulk`, OTLP and live tail).
    #[command(after_help = server::EXAMPLES)]
    Server(server::ServerArgs),
    /// Streaming sidecar: follow files through rotation and copy their lines to stdout.
    #[command(after_help = stream::EXAMPLES)]
    Stream(stream::StreamArgs),
    /// Compare a `kelp simulate` ledger with what a Kelp server stored.
    #[command(after_help = verify::EXAMPLES)]
    Verify(verify::VerifyArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Agent(args) => agent::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Server(args) => server::run(args),
        Command::Stream(args) => stream::run(args),
        Command::Verify(args) => verify::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
