use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use classcast::auth::{Claims, Keys};
use classcast::cli::{Cli, Command, RecordingsCommand};
use classcast::client::{WhipClient, WhipClientOptions};
use classcast::db::Db;
use classcast::server::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new("info,gstreamer=error,gstreamer::utilsrs-stream-producer=off")
        }))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("classcast: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("classcast: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(args) => {
            if classcast::cli::secret_on_command_line() {
                tracing::warn!(
                    "--jwt-secret on the command line is visible to every user of this host \
                     (ps, /proc): set CLASSCAST_JWT_SECRET instead"
                );
            }
            let config = Config::try_from(&*args).map_err(|e| e.to_string())?;
            classcast::server::serve(config)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Migrate(store) => {
            let db = Db::connect(&store.database_url())
                .await
                .map_err(|e| e.to_string())?;
            db.migrate().await.map_err(|e| e.to_string())?;
            db.close().await;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Token(args) => {
            let keys = Keys::from_config(&(&args.auth).into(), &args.store.data_dir)
                .map_err(|e| e.to_string())?;
            let name = args.name.as_deref().unwrap_or(&args.user);
            let claims = Claims::new(&args.user, name, args.role, args.session.clone(), args.ttl);
            println!("{}", keys.sign(&claims).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Recordings(RecordingsCommand::Prune(args)) => {
            let db = Db::connect(&args.store.database_url())
                .await
                .map_err(|e| e.to_string())?;
            db.migrate().await.map_err(|e| e.to_string())?;
            let setup = classcast::storage::setup::from_config(
                &(&args.storage).into(),
                &args.store.data_dir,
            )
            .await
            .map_err(|e| e.to_string())?;
            let report = classcast::recording::retention::prune(
                &db,
                &setup.storage,
                &args.store.data_dir,
                args.storage.recording_retention,
                args.dry_run,
            )
            .await
            .map_err(|e| e.to_string())?;
            db.close().await;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
            );
            if report.failed.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} recordings could not be deleted",
                    report.failed.len()
                ))
            }
        }
        Command::Publish(args) => {
            let options = WhipClientOptions {
                whip_url: args.whip_url,
                token: args.token,
                codec: args.codec.into(),
                width: args.width,
                height: args.height,
                fps: args.fps,
            };
            let mut client = WhipClient::publish(&options)
                .await
                .map_err(|e| e.to_string())?;
            println!("publishing: {}", client.location);
            let limit = args.duration.unwrap_or(Duration::MAX);
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = tokio::time::sleep(limit) => {}
                err = client.wait_failed() => return Err(err.to_string()),
            }
            client.stop().await.map_err(|e| e.to_string())
        }
    }
}
