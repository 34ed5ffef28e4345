//! `line_format` templates on arbitrary text: parsing and rendering never panic or hang
//! (ranges, recursion through `template` and deep nesting are bounded).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        kelp_query::fuzzing::template(text);
    }
});
