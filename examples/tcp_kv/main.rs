//! A service written against sockets, under Faultline: a chain-replicated key-value store over
//! TCP (`app/service/`: tasks, reconnects with backoff, a length-prefixed codec), whose only
//! link to the simulation is where it imports its sockets, tasks and time from
//! (`app/service/rt.rs`). `app/model.rs` registers it as the model `tcp-kv`; every command
//! works on it:
//!
//! ```sh
//! cargo run --release --example tcp_kv -- run tcp-kv --seed 7 --check-determinism
//! cargo run --release --example tcp_kv -- fuzz tcp-kv --seeds 1000
//! cargo run --release --example tcp_kv -- fuzz tcp-kv --bug reconnect-new-session --stop-on-first
//! cargo run --release --example tcp_kv -- ci ci/examples.yaml
//! ```
//!
//! docs/guide.md, "Bringing a service that uses sockets", walks through it.
mod app;

fn main() {
    std::process::exit(faultline_cli::main(vec![app::model()]));
}
