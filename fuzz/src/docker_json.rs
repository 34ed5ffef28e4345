//! `docker::parse` on arbitrary bytes: never panics; attrs of a parsed line always
//! iterate; a log borrowed from the line is a slice of it.

use std::borrow::Cow;

use kelp_k8s::docker;

/// One input.
pub fn run(data: &[u8]) {
    let Ok(r) = docker::parse(data) else { return };
    for (k, v) in r.attrs.iter() {
        // A key that is not UTF-8 shows lossily and cannot be looked up (documented).
        if !k.contains('\u{fffd}') {
            assert!(r.attrs.get(&k).is_some(), "{k}={v}");
        }
    }
    if let Cow::Borrowed(log) = r.log {
        let start = log.as_ptr() as usize;
        let base = data.as_ptr() as usize;
        assert!(log.is_empty() || (start >= base && start + log.len() <= base + data.len()));
    }
    let c = r.as_cri();
    assert_eq!(c.content, &*r.log);
}
