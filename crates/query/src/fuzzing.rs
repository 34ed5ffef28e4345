//! Entry points for the fuzz targets in `fuzz/` (not a stable API).

use kelp_model::{Labels, Timestamp};

use crate::pipeline::Row;
use crate::template::Template;

/// Parses arbitrary text as a `line_format` template and, when it parses, renders it for a
/// row with a few labels. Neither may panic or run unbounded: the render's step budget
/// ends loops and recursion with an error.
pub fn template(text: &str) {
    let Ok(t) = Template::parse(text) else {
        return;
    };
    let labels = Labels::from_pairs([
        ("app", "api"),
        ("n", "7"),
        ("json", r#"{"a":[1,{"b":"c"}],"d":null}"#),
    ])
    .expect("valid labels");
    let row = Row::new(Timestamp::from_unix_secs(1), b"the line", &labels, &[]);
    let _ = t.render(&row);
}
