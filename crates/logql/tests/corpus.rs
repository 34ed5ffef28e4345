//! Loki's own parser-test queries (the peer corpus): every `# valid` line must parse and
//! print to a fixpoint, every `# invalid` line must be rejected.
//!
//! The corpus is AGPL-licensed Loki test data and lives outside the repository: the path
//! comes from `KELP_LOGQL_PEER_CORPUS`, else `../../../shared/peer/logql-queries.txt` from
//! this crate. When it is missing the test passes with a note, unless `CI` is set.

use std::path::PathBuf;

fn corpus_path() -> PathBuf {
    match std::env::var_os("KELP_LOGQL_PEER_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peer/logql-queries.txt")
        }
    }
}

#[test]
fn peer_corpus() {
    let path = corpus_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("the peer corpus {} is missing in CI: {e}", path.display())
        }
        Err(e) => {
            eprintln!(
                "note: peer corpus {} not read ({e}); skipped",
                path.display()
            );
            return;
        }
    };
    let mut valid: Option<bool> = None;
    let (mut valid_total, mut valid_ok, mut invalid_total, mut invalid_ok) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match line {
            "# valid" => valid = Some(true),
            "# invalid" => valid = Some(false),
            _ if line.starts_with('#') || line.trim().is_empty() => {}
            query => match (valid, kelp_logql::parse(query)) {
                (None, _) => panic!("line {}: a query before any group", i + 1),
                (Some(true), Ok(expr)) => {
                    valid_total += 1;
                    let printed = expr.to_string();
                    match kelp_logql::parse(&printed) {
                        Ok(again) if again == expr => valid_ok += 1,
                        Ok(again) => failures.push(format!(
                            "line {}: not a fixpoint: {query}\n  printed: {printed}\n  reprinted: {again}",
                            i + 1
                        )),
                        Err(e) => failures.push(format!(
                            "line {}: printed form fails: {query}\n  printed: {printed}\n  {e}",
                            i + 1
                        )),
                    }
                }
                (Some(true), Err(e)) => {
                    valid_total += 1;
                    failures.push(format!("line {}: rejected: {query}\n  {e}", i + 1));
                }
                (Some(false), Ok(expr)) => {
                    invalid_total += 1;
                    failures.push(format!("line {}: accepted: {query}\n  as {expr}", i + 1));
                }
                (Some(false), Err(_)) => {
                    invalid_total += 1;
                    invalid_ok += 1;
                }
            },
        }
    }
    eprintln!(
        "peer corpus: valid parsed and round-tripped {valid_ok}/{valid_total}, invalid rejected {invalid_ok}/{invalid_total}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        valid_total > 1000 && invalid_total > 60,
        "the corpus looks truncated"
    );
}
