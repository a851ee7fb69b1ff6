use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = match stackgate_cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return stackgate_cli::args::refuse(&error),
    };
    std::process::ExitCode::from(stackgate_cli::run(cli).await as u8)
}
