fn main() -> std::process::ExitCode {
    trmm_runtime::service::main(trmm_beat::SERVICE, trmm_beat::run)
}
