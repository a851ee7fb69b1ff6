use clap::{Parser, Subcommand};
use stackgate_local::{demo, deploy, endpoint, frontdoor, BoxError, LocalClients};

/// The stackgate local stack (see scripts/local-stack.sh, which starts the processes).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the front door: Lambda Invoke to cargo-lambda, everything else to moto.
    Frontdoor {
        #[arg(long, default_value = "127.0.0.1:4566")]
        listen: std::net::SocketAddr,
        #[arg(long, default_value = "127.0.0.1:4567")]
        moto: String,
        #[arg(long, default_value = "127.0.0.1:9000")]
        lambda: String,
    },
    /// Print the functions' environment (from template.yaml), as an env file for cargo-lambda.
    EnvFile,
    /// Create the template's topics, buckets and state machines on the running local stack.
    Deploy,
    /// Run the main job: create, safe update, unsafe refused, no changes.
    Demo,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    match Cli::parse().command {
        Command::Frontdoor {
            listen,
            moto,
            lambda,
        } => {
            frontdoor::serve(listen, frontdoor::Upstreams { moto, lambda }).await?;
        }
        Command::EnvFile => {
            for (key, value) in deploy::load_template()?.function_environment()? {
                println!("{key}={value}");
            }
        }
        Command::Deploy => {
            let endpoint = endpoint();
            let clients = LocalClients::connect(&endpoint).await;
            for arn in deploy::deploy(&clients, &endpoint).await? {
                println!("state machine {arn}");
            }
        }
        Command::Demo => {
            let clients = LocalClients::connect(&endpoint()).await;
            demo::run(&clients).await?;
        }
    }
    Ok(())
}
