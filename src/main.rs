fn main() {
    std::process::exit(kubedx::cli::main());
}
