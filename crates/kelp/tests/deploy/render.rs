//! The chart rendered at test time by `deploy/helm/render/`: Helm's template engine
//! without Helm (Go's `text/template`, sprig, Helm's own functions, values coalescing and
//! manifest ordering; `deploy/helm/render/README.md` says what it is not). It is built
//! once per test run with Debian's Go in GOPATH mode against `/usr/share/gocode` (no
//! network), under `target/tmp/` (`.ci/deps` installs the packages).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::root;

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// `go` in GOPATH mode: the renderer's source linked into a GOPATH of its own as package
/// `kelp/render`, Debian's Go packages after it.
fn go() -> Command {
    let gopath = tmp().join("helm-render-gopath");
    let mut c = Command::new("go");
    c.env("GO111MODULE", "off")
        .env("GOPATH", format!("{}:/usr/share/gocode", gopath.display()))
        .env("GOCACHE", tmp().join("go-cache"))
        .env("GOFLAGS", "")
        .env("CGO_ENABLED", "0");
    c
}

fn link_source() {
    let pkg = tmp().join("helm-render-gopath/src/kelp");
    std::fs::create_dir_all(&pkg).unwrap();
    let link = pkg.join("render");
    let source = root().join("deploy/helm/render");
    if std::fs::read_link(&link).ok().as_deref() != Some(source.as_path()) {
        // Made aside and renamed over the old link: another test process may be reading it.
        let fresh = pkg.join(format!("render.{}", std::process::id()));
        let _ = std::fs::remove_file(&fresh);
        std::os::unix::fs::symlink(&source, &fresh).unwrap();
        std::fs::rename(&fresh, &link).unwrap();
    }
}

fn run_go(args: &[&str]) -> String {
    link_source();
    let out = go().args(args).output().unwrap_or_else(|e| {
        panic!("running go: {e}; the deploy tests need Debian's golang-go and golang-github-masterminds-sprig-dev (bash .ci/deps)")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "go {}: {text}", args.join(" "));
    text
}

/// The renderer's binary, built on first use.
pub fn renderer() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = tmp().join("helm-render");
        run_go(&["build", "-o", bin.to_str().unwrap(), "kelp/render"]);
        bin
    })
}

/// `helm template <release> deploy/helm/kelp --namespace <namespace> -f <values>...`.
pub fn render(release: &str, namespace: &str, values: &[&Path]) -> Result<String, String> {
    let mut c = Command::new(renderer());
    c.args([release, root().join("deploy/helm/kelp").to_str().unwrap()])
        .args(["--namespace", namespace]);
    for v in values {
        c.arg("-f").arg(v);
    }
    let out = c.output().expect("the renderer runs");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("UTF-8 manifests"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The renderer's own tests (Go): Helm's behaviour on a chart of each feature.
#[test]
fn helm_renderer_go_tests_pass() {
    renderer();
    let out = run_go(&["test", "-count=1", "kelp/render"]);
    assert!(out.starts_with("ok"), "{out}");
}

/// A bad values file is an error naming it, not a panic or an empty rendering.
#[test]
fn helm_renderer_refuses_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "agent: [unclosed\n").unwrap();
    let err = render("kelp", "kelp", &[&bad]).unwrap_err();
    assert!(err.contains("bad.yaml"), "{err}");
    let err = render("kelp", "kelp", &[&dir.path().join("missing.yaml")]).unwrap_err();
    assert!(err.contains("missing.yaml"), "{err}");
    let err = render("Not_A_Name", "kelp", &[]).unwrap_err();
    assert!(err.contains("invalid release name"), "{err}");
}
