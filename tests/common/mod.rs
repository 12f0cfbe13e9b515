//! Helpers shared by the end-to-end tests: temp dirs and running the `faultline` binary. Each
//! test crate uses only some of them.
#![allow(dead_code)]
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A unique folder under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "faultline-cli-test-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a run of the `faultline` binary printed, and its exit code.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// stdout must be exactly one JSON object and nothing else.
    pub fn json(&self) -> Value {
        let text = self.stdout.trim();
        assert_eq!(
            text.lines().count(),
            1,
            "one line of JSON on stdout, got: {}",
            self.stdout
        );
        let v: Value = serde_json::from_str(text).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON value ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        });
        assert!(v.is_object(), "{v}");
        v
    }

    /// (exit code, stdout, stderr).
    pub fn into_parts(self) -> (i32, String, String) {
        (self.code, self.stdout, self.stderr)
    }
}

/// Runs the binary in `cwd` (a temp dir, so default output folders never land in the repo).
pub fn faultline_in(cwd: &Path, args: &[&str]) -> Out {
    faultline_env(cwd, args, &[])
}

/// [`faultline_in`] with `env` added to the environment.
pub fn faultline_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .output()
        .expect("the faultline binary runs");
    Out {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}
