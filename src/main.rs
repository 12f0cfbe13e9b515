fn main() {
    std::process::exit(faultline_harness::cli::main(faultline_models::all()));
}
