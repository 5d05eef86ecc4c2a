fn main() {
    std::process::exit(outset_daemon::main());
}
