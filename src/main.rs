/// glibc's malloc spent a fifth of every seed in allocation and free (callgrind, `fuzz raft`):
/// a simulation allocates many short-lived small objects (messages, timers, JSON values).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(faultline_cli::main(faultline_models::all()));
}
