fn main() -> std::process::ExitCode {
    trmm_runtime::service::main(trmm_websocket::SERVICE, trmm_websocket::run)
}
