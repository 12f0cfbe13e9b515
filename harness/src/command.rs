//! The commands Faultline prints for a person to run next (`faultline replay FILE`,
//! `faultline shrink FILE`). They name the binary that is running: a user's own binary
//! (`cli::main(models)`, which knows the user's models) prints its own name, since the stock
//! `faultline` would answer "unknown model". Every printed command is built here.
use std::sync::RwLock;

/// The binary's name as the CLI was invoked; `None` until [`set_binary`].
static BINARY: RwLock<Option<String>> = RwLock::new(None);

/// The name printed commands start with when no CLI set one (a library caller).
pub const DEFAULT_BINARY: &str = "faultline";

/// Names the running binary: the file name of `argv0` (`./target/release/my-bin` gives
/// `my-bin`). The CLI calls it with its `argv[0]`; an empty name is ignored.
///
/// ```
/// use faultline::command::{binary_name_of, set_binary, binary};
/// assert_eq!(binary_name_of("/usr/local/bin/my-kv-fuzz"), Some("my-kv-fuzz".to_string()));
/// set_binary("./target/release/my-kv-fuzz");
/// assert_eq!(binary(), "my-kv-fuzz");
/// ```
pub fn set_binary(argv0: impl AsRef<std::ffi::OsStr>) {
    if let Some(name) = binary_name_of(argv0) {
        *BINARY.write().unwrap_or_else(|e| e.into_inner()) = Some(name);
    }
}

/// The file name of an `argv[0]`, if it has one.
pub fn binary_name_of(argv0: impl AsRef<std::ffi::OsStr>) -> Option<String> {
    std::path::Path::new(argv0.as_ref())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
}

/// The binary printed commands name: the one the CLI was invoked as, else `faultline`.
pub fn binary() -> String {
    BINARY
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| DEFAULT_BINARY.to_string())
}

/// `BINARY ARG...` with the running binary (see [`binary`]); arguments a shell would split or
/// expand are single-quoted.
///
/// ```
/// use faultline::command::command_with;
/// assert_eq!(command_with("my-bin", &["replay", "out/seed 3/repro.yaml"]),
///            "my-bin replay 'out/seed 3/repro.yaml'");
/// ```
pub fn command(args: &[&str]) -> String {
    command_with(&binary(), args)
}

/// `bin ARG...`, quoting as [`command`] does.
pub fn command_with(bin: &str, args: &[&str]) -> String {
    let mut out = quote(bin);
    for a in args {
        out.push(' ');
        out.push_str(&quote(a));
    }
    out
}

/// `s` as one shell word.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `BINARY replay PATH`: how to re-run a reproducer.
pub fn replay(repro: &std::path::Path) -> String {
    command(&["replay", &repro.display().to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_protects_the_rest() {
        assert_eq!(quote("a/b-c_1.yaml"), "a/b-c_1.yaml");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn a_name_is_the_file_name_of_argv0() {
        assert_eq!(binary_name_of("faultline").as_deref(), Some("faultline"));
        assert_eq!(binary_name_of("../x/y/z").as_deref(), Some("z"));
        assert_eq!(binary_name_of(""), None);
    }
}
