//! The page's shared HTML: escaping, the layout around every page (navigation, sign-out form)
//! and the stylesheet, which ships in the binary.

use super::{Page, Visitor};

const STYLESHEET: &str = include_str!("style.css");

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The hidden field that carries the session's CSRF token.
pub fn csrf_field(visitor: &Visitor) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(&visitor.session.csrf)
    )
}

/// A whole page: `main` holds `content` under an `h1` of `title`; a signed-in visitor gets the
/// navigation and the sign-out button.
pub fn layout(title: &str, visitor: Option<&Visitor>, content: &str) -> String {
    let navigation = visitor.map_or_else(String::new, |visitor| {
        let admin = if visitor.admin {
            "<li><a href=\"/web/admin\">All users</a></li>"
        } else {
            ""
        };
        format!(
            "<nav aria-label=\"Main\"><ul>\
             <li><a href=\"/web/devices\">Devices</a></li>\
             <li><a href=\"/web/oof\">Out of office</a></li>\
             <li><a href=\"/web/password\">Password</a></li>\
             <li><a href=\"/web/certificates\">Certificates</a></li>\
             <li><a href=\"/web/setup\">Set up a phone</a></li>{admin}</ul>\
             <form method=\"post\" action=\"/web/signout\" class=\"signout\">{}\
             <span class=\"who\">{}</span> <button type=\"submit\">Sign out</button></form></nav>",
            csrf_field(visitor),
            escape(&visitor.session.user.email)
        )
    });
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} – easd</title><link rel=\"stylesheet\" href=\"/web/style.css\"></head>\
         <body><header><p class=\"brand\">easd</p>{navigation}</header>\
         <main><h1>{title}</h1>{content}</main></body></html>\n",
        title = escape(title)
    )
}

/// A status message at the top of a page, read out by screen readers when it appears.
pub fn notice(text: &str) -> String {
    format!("<p class=\"notice\" role=\"status\">{}</p>", escape(text))
}

/// An error message at the top of a form.
pub fn error(text: &str) -> String {
    format!("<p class=\"error\" role=\"alert\">{}</p>", escape(text))
}

pub fn stylesheet() -> Page {
    Page {
        status: 200,
        headers: vec![("Content-Type".into(), "text/css; charset=utf-8".into())],
        body: STYLESHEET.as_bytes().to_vec(),
    }
}

/// "3 minutes ago" and the like, for times in the past.
pub fn ago(now: i64, then: i64) -> String {
    let seconds = (now - then).max(0);
    let (count, unit) = match seconds {
        0..=59 => return "just now".into(),
        60..=3599 => (seconds / 60, "minute"),
        3600..=86_399 => (seconds / 3600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    format!("{count} {unit}{} ago", if count == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">Tom & 'Jerry'</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn times_read_naturally() {
        assert_eq!(ago(1000, 990), "just now");
        assert_eq!(ago(1000, 1000 - 120), "2 minutes ago");
        assert_eq!(ago(10_000, 10_000 - 3600), "1 hour ago");
        assert_eq!(ago(1_000_000, 1_000_000 - 3 * 86_400), "3 days ago");
        assert_eq!(ago(0, 50), "just now");
    }
}
