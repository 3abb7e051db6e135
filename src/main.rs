fn main() {
    std::process::exit(easd::admin::main());
}
