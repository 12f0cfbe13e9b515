//! tikv's raft-rs under Faultline, as a user would integrate it: implement `Protocol` around the
//! library (`model/`), register it as a `Model`, and hand it to the harness's CLI. Every command
//! then works on it:
//!
//! ```sh
//! cargo run --release --example raft_rs -- run raft-rs --seed 7 --check-determinism
//! cargo run --release --example raft_rs -- fuzz raft-rs --seeds 300
//! cargo run --release --example raft_rs -- fuzz raft-rs --bug ack-before-fsync --stop-on-first
//! cargo run --release --example raft_rs -- replay faultline-out/fuzz-raft-rs-.../repro.yaml
//! ```
//!
//! `docs/raft-rs.md` walks through the integration and the determinism workaround.
mod model;

fn main() {
    std::process::exit(faultline_cli::main(vec![model::model()]));
}
