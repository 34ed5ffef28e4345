use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;

use super::*;

async fn get(path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    routes::<()>()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn ct(r: &Response) -> &str {
    r.headers()[header::CONTENT_TYPE].to_str().unwrap()
}

#[tokio::test]
async fn the_page_answers_every_view_path_and_nothing_else() {
    for p in [
        "/ui/",
        "/ui/explore",
        "/ui/tail",
        "/ui/pods",
        "/ui/resources",
    ] {
        let r = get(p, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{p}");
        assert_eq!(ct(&r), "text/html; charset=utf-8", "{p}");
    }
    for p in ["/ui/nope", "/ui/assets/nope.js", "/", "/loki/api/v1/labels"] {
        assert_eq!(get(p, &[]).await.status(), StatusCode::NOT_FOUND, "{p}");
    }
    let r = get("/ui", &[]).await;
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers()[header::LOCATION], "/ui/");
}

#[tokio::test]
async fn assets_have_their_type_and_a_validator() {
    for a in ASSETS {
        let r = get(&format!("/ui/assets/{}", a.path), &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", a.path);
        assert_eq!(ct(&r), a.content_type);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
        let etag = r.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(etag, a.etag());
        let again = get(
            &format!("/ui/assets/{}", a.path),
            &[("if-none-match", &etag)],
        )
        .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{}", a.path);
    }
    let r = get("/ui/assets/js/main.js", &[]).await;
    assert_eq!(ct(&r), "text/javascript; charset=utf-8");
}

#[test]
fn every_module_the_page_imports_is_embedded() {
    // `import ... from './x.js'` in any module names an embedded file.
    for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        let text = std::str::from_utf8(a.bytes).unwrap();
        for line in text.lines().filter(|l| l.starts_with("import ")) {
            let Some(spec) = line.split(['\'', '"']).nth(1) else {
                continue;
            };
            let name = spec.trim_start_matches("./");
            assert!(
                ASSETS.iter().any(|b| b.path == format!("js/{name}")),
                "{} imports {spec}, which is not embedded",
                a.path
            );
        }
    }
}

#[test]
fn browsers_are_told_apart_from_api_clients() {
    let h = |v: &str| {
        let mut m = HeaderMap::new();
        m.insert(header::ACCEPT, v.parse().unwrap());
        m
    };
    assert!(wants_html(&h(
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    )));
    assert!(!wants_html(&h("application/json")));
    assert!(!wants_html(&h("*/*")));
    assert!(!wants_html(&HeaderMap::new()));
    assert_eq!(to_ui().headers()[header::LOCATION], "/ui/");
}
