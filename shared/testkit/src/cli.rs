//! Command-line checks shared by the services' config tests.

/// Parses `args` (the binary name first) as `C`'s command line and checks that its long `--help` names every
/// one of `listed` and none of `absent`: the shared settings reach a service only through a `#[command(flatten)]`
/// that is easy to forget or to add to the wrong service.
pub fn parse_with_help<C: clap::Parser>(args: &[&str], listed: &[&str], absent: &[&str]) -> C {
    let config = C::try_parse_from(args).unwrap();
    let help = C::command().render_long_help().to_string();
    for text in listed {
        assert!(help.contains(text), "{text} missing from --help:\n{help}");
    }
    for text in absent {
        assert!(!help.contains(text), "{text} in --help:\n{help}");
    }
    config
}
