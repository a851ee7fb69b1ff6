use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = stackgate_cli::Cli::parse();
    std::process::ExitCode::from(stackgate_cli::run(cli).await as u8)
}
