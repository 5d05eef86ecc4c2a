fn main() {
    std::process::exit(outset_ctl::main());
}
