//! The embedded files: each with its path under `/ui/assets/`, content type and a hash of
//! its bytes computed at compile time (the `ETag`).

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Path under `/ui/assets/`.
    pub path: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The file.
    pub bytes: &'static [u8],
    /// FNV-1a 64 of `bytes`.
    pub hash: u64,
}

impl Asset {
    /// The strong validator, `"<16 hex digits>"`.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }
}

/// FNV-1a, 64 bits: small, `const`, and enough to tell two versions of a file apart.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!("../assets/", $path)),
            hash: fnv1a(include_bytes!(concat!("../assets/", $path))),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// The page every view path answers.
pub static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

/// Every file under `/ui/assets/`.
pub static ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/util.js", JS),
    asset!("js/time.js", JS),
    asset!("js/logql.js", JS),
    asset!("js/editor.js", JS),
    asset!("js/range.js", JS),
    asset!("js/histogram.js", JS),
    asset!("js/chart.js", JS),
    asset!("js/loglist.js", JS),
    asset!("js/explore.js", JS),
    asset!("js/tail.js", JS),
    asset!("js/pods.js", JS),
    asset!("js/resources.js", JS),
];
