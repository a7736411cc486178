fn main() -> std::process::ExitCode {
    trmm_runtime::service::main(trmm_worker::SERVICE, trmm_worker::run)
}
