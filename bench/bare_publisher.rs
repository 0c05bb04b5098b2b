//! The benchmark floor: publishes ready-made JSON lines from stdin, one message per line,
//! with the crate's bare `Publisher` and nothing else (no parsing, no spool). `bench/e2e.sh`
//! compares the real program against it.
//!
//! Usage: PUBSUB_EMULATOR_HOST=127.0.0.1:PORT bare_publisher --topic T [--batch-large] < lines
//! Publishes up to 2000 messages, awaits their futures, and so on until EOF; then prints the
//! number of acked messages and exits 0, or exits 1 if any publish failed.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use google_cloud_auth::credentials::anonymous;
use google_cloud_pubsub::client::Publisher;
use google_cloud_pubsub::model::Message;
use google_cloud_pubsub::publisher::PublishFuture;

/// Messages published before their futures are awaited.
const WINDOW: usize = 2000;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "test")]
    project: String,
    #[arg(long)]
    topic: String,
    /// Endpoint URL; defaults to http://$PUBSUB_EMULATOR_HOST.
    #[arg(long)]
    endpoint: Option<String>,
    /// Batch 1000 messages / 9 MB / 50 ms instead of the crate's 100 / 1 MB / 10 ms.
    #[arg(long)]
    batch_large: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(endpoint) = args.endpoint.clone().or_else(|| {
        std::env::var("PUBSUB_EMULATOR_HOST")
            .ok()
            .map(|h| format!("http://{h}"))
    }) else {
        eprintln!("bare_publisher: give --endpoint or set PUBSUB_EMULATOR_HOST");
        return ExitCode::FAILURE;
    };
    let runtime = tokio::runtime::Runtime::new().expect("start the tokio runtime");
    let started = Instant::now();
    let mut builder =
        Publisher::builder(format!("projects/{}/topics/{}", args.project, args.topic))
            .with_endpoint(endpoint)
            .with_credentials(anonymous::Builder::new().build());
    if args.batch_large {
        builder = builder
            .set_message_count_threshold(1000)
            .set_byte_threshold(9_000_000)
            .set_delay_threshold(Duration::from_millis(50));
    }
    let publisher = runtime
        .block_on(builder.build())
        .expect("build the publisher");

    let mut acked = 0_usize;
    let mut failed = 0_usize;
    let mut pending: Vec<PublishFuture> = Vec::with_capacity(WINDOW);
    let mut settle = |pending: &mut Vec<PublishFuture>| {
        runtime.block_on(async {
            for future in pending.drain(..) {
                match future.await {
                    Ok(_) => acked += 1,
                    Err(e) => {
                        if failed == 0 {
                            eprintln!("bare_publisher: publish failed: {e}");
                        }
                        failed += 1;
                    }
                }
            }
        });
    };
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        if stdin.read_until(b'\n', &mut line).expect("read stdin") == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        pending.push(publisher.publish(Message::new().set_data(line.clone())));
        if pending.len() == WINDOW {
            settle(&mut pending);
        }
    }
    settle(&mut pending);

    let elapsed = started.elapsed().as_secs_f64();
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "published {acked} messages in {elapsed:.3} s, {failed} failed"
    )
    .expect("write stdout");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
