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
    /// Print a container's logs as `kubectl logs` does, also for pods that are gone.
    #[command(after_help = kelp_cli::logs::EXAMPLES)]
    Logs(kelp_cli::logs::LogsArgs),
    /// List the pods known to the store: first/last seen, restarts, still on their node.
    #[command(after_help = kelp_cli::pods::EXAMPLES)]
    Pods(kelp_cli::pods::PodsArgs),
    /// Run a LogQL query (as logcli query does).
    #[command(after_help = kelp_cli::query::EXAMPLES)]
    Query(kelp_cli::query::QueryArgs),
    /// List label names, or the values of one label.
    #[command(after_help = "Examples:\n  kelp labels\n  kelp labels namespace --since 24h")]
    Labels(kelp_cli::query::LabelsArgs),
    /// List the streams a selector matches.
    #[command(after_help = "Examples:\n  kelp series '{namespace=\"shop\"}' --since 24h")]
    Series(kelp_cli::query::SeriesArgs),
    /// CPU and memory of nodes and pods, as `kubectl top` prints them, also in the past.
    #[command(after_help = kelp_cli::top::EXAMPLES)]
    Top(kelp_cli::top::TopArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  kelp completions bash > /etc/bash_completion.d/kelp\n  kelp completions zsh > \"${fpath[1]}/_kelp\""
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
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
        Command::Logs(args) => kelp_cli::logs::run(&args, &mut std::io::stdout().lock()),
        Command::Pods(args) => kelp_cli::pods::run(&args, &mut std::io::stdout().lock()),
        Command::Query(args) => kelp_cli::query::run_query(&args, &mut std::io::stdout().lock()),
        Command::Labels(args) => kelp_cli::query::run_labels(&args, &mut std::io::stdout().lock()),
        Command::Series(args) => kelp_cli::query::run_series(&args, &mut std::io::stdout().lock()),
        Command::Top(args) => kelp_cli::top::run(&args, &mut std::io::stdout().lock()),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "kelp", &mut std::io::stdout());
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.is::<kelp_cli::logs::Verbatim>() => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
