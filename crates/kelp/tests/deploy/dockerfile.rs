//! The `Dockerfile`, read instruction by instruction (no docker here).

use super::{read, root};

/// Dockerfile instructions: continuation lines joined, comments dropped.
pub fn dockerfile() -> Vec<(String, String)> {
    let text = read(&root().join("Dockerfile"));
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(t);
        let (op, args) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((op.to_ascii_uppercase(), args.trim().to_owned()));
        current.clear();
    }
    out
}

#[test]
fn dockerfile_builds_in_one_stage_and_runs_as_non_root_in_another() {
    let ins = dockerfile();
    let stages: Vec<usize> = (0..ins.len()).filter(|&i| ins[i].0 == "FROM").collect();
    assert_eq!(stages.len(), 2, "a builder stage and a runtime stage");
    let builder = &ins[stages[0]].1;
    assert!(
        builder.starts_with("rust:") && builder.ends_with(" AS builder"),
        "{builder}"
    );
    let build = &ins[stages[0]..stages[1]];
    assert!(
        build.iter().any(|(op, a)| op == "RUN"
            && a.contains("cargo build --release --locked -p kelp")
            && a.contains("-unknown-linux-musl")),
        "a static (musl) release build of the locked workspace"
    );
    // The release profile's line tables stay out of the image (139 MB → 30 MB).
    assert!(
        build
            .iter()
            .any(|(op, a)| op == "RUN" && a.contains("CARGO_PROFILE_RELEASE_STRIP=debuginfo")),
        "the image's binary is built without debug info"
    );
    let runtime = &ins[stages[1]..];
    assert!(
        runtime[0].1.contains("distroless/static"),
        "{}",
        runtime[0].1
    );
    let copy = runtime
        .iter()
        .find(|(op, a)| op == "COPY" && a.starts_with("--from=builder "))
        .expect("the binary is copied from the builder");
    let binary = copy.1.split_whitespace().last().unwrap().to_owned();
    let user = runtime
        .iter()
        .rev()
        .find(|(op, _)| op == "USER")
        .expect("USER");
    let uid = user.1.split(':').next().unwrap();
    assert!(
        uid != "0" && uid != "root" && uid.parse::<u32>().is_ok(),
        "{}",
        user.1
    );
    let entry = runtime
        .iter()
        .find(|(op, _)| op == "ENTRYPOINT")
        .expect("ENTRYPOINT");
    let exec: Vec<String> = serde_json::from_str(&entry.1).expect("exec form (JSON array)");
    assert_eq!(exec, vec![binary]);
    let cmd = runtime.iter().find(|(op, _)| op == "CMD").expect("CMD");
    let cmd: Vec<String> = serde_json::from_str(&cmd.1).expect("exec form (JSON array)");
    assert_eq!(cmd[0], "server");
    // Every workspace input is copied, the build output is not.
    for input in ["Cargo.toml", "Cargo.lock", "crates", "corpus"] {
        assert!(
            build
                .iter()
                .any(|(op, a)| op == "COPY" && a.split_whitespace().any(|w| w == input)),
            "{input} is copied into the builder"
        );
    }
    let ignore = read(&root().join(".dockerignore"));
    assert!(ignore.lines().any(|l| l.trim() == "target"));
}
