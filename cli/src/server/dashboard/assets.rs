//! The page, its script and its styles, compiled into the binary so the
//! dashboard works with no network beyond the cluster's.

/// A file the dashboard serves as is.
pub struct Asset {
    pub kind: &'static str,
    pub body: &'static str,
}

/// The asset served at `path`, if any.
pub fn get(path: &str) -> Option<Asset> {
    let (kind, body) = match path {
        "/" | "/index.html" => (
            "text/html; charset=utf-8",
            include_str!("assets/index.html"),
        ),
        "/app.js" => (
            "text/javascript; charset=utf-8",
            include_str!("assets/app.js"),
        ),
        "/charts.js" => (
            "text/javascript; charset=utf-8",
            include_str!("assets/charts.js"),
        ),
        "/style.css" => ("text/css; charset=utf-8", include_str!("assets/style.css")),
        "/favicon.svg" => ("image/svg+xml", include_str!("assets/favicon.svg")),
        _ => return None,
    };
    Some(Asset { kind, body })
}
