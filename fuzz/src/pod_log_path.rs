//! The path parsers on arbitrary strings: never panic; a parsed pod log path prints
//! back to its input, and a parsed stamp prints back to its text.

use kelp_k8s::path::{ContainerLogLink, PodLogPath, RotationStamp};

/// One input.
pub fn run(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = PodLogPath::parse(s) {
        assert_eq!(p.to_string(), s);
        assert_eq!(
            PodLogPath::parse(&p.live().to_string()).map(|l| l.restart),
            Ok(p.restart)
        );
    }
    let full = format!("/var/log/pods/{s}");
    let _ = PodLogPath::parse_under("/var/log/pods", &full);
    if let Ok(l) = ContainerLogLink::parse(s) {
        assert!(s.starts_with(l.pod));
        assert!(s.ends_with(&format!("{}.log", l.container_id)));
    }
    if let Ok(t) = RotationStamp::parse(s) {
        assert_eq!(t.to_string(), s);
    }
}
