//! The user's own S/MIME certificates on the page: the list (name, validity, whether phones
//! writing to the user get it) with a remove button each, and a form to paste a new one as
//! PEM text (a text field: the page's forms are urlencoded, with no file upload). The
//! certificate must name the user's own address. [`store_file`] is also what `easd user
//! cert add` stores with.

use super::{html, Form, Page, Visitor, WebEnv};
use crate::smime::{self, x509, Refusal};
use crate::store::certificates::{CertificateState, NewCertificate};
use crate::store::{Store, StoreError, User};

/// Stores the personal certificates of a certificate file for `user`
/// ([`smime::personal_certificates`]): (fingerprint, newly stored) per certificate.
pub fn store_file(
    store: &Store,
    user: &User,
    bytes: &[u8],
    added_by: &str,
) -> Result<Result<Vec<(String, bool)>, Refusal>, StoreError> {
    let personal = match smime::personal_certificates(bytes, &user.email) {
        Ok(personal) => personal,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let mut stored = Vec::new();
    for (der, info) in &personal {
        let fingerprint = smime::fingerprint(der);
        let new = store.add_user_certificate(
            user.id,
            &NewCertificate {
                der,
                fingerprint: &fingerprint,
                not_before: info.not_before,
                not_after: info.not_after,
                for_smime: info.allows_email_protection(),
                added_by,
            },
        )?;
        stored.push((fingerprint, new));
    }
    Ok(Ok(stored))
}

pub fn show(env: &mut WebEnv, visitor: &Visitor, query: &Form) -> Page {
    let notice = match query.text("done") {
        "added" => html::notice("Your certificate is stored."),
        "removed" => html::notice("The certificate is removed."),
        _ => String::new(),
    };
    render(env, visitor, 200, notice)
}

fn render(env: &mut WebEnv, visitor: &Visitor, status: u16, top: String) -> Page {
    let user = &visitor.session.user;
    let list = match env.store.user_certificates(user.id) {
        Ok(list) => list,
        Err(e) => return Page::internal(&e),
    };
    let now = crate::store::now();
    let mut content = top;
    content.push_str(
        "<p>People writing to you from their phones get the certificates listed here that are \
         valid now, so that they can send you encrypted mail.</p>",
    );
    if list.is_empty() {
        content.push_str("<p>No certificates stored.</p>");
    } else {
        content.push_str(
            "<table><thead><tr><th>Name</th><th>Valid</th><th>Fingerprint (SHA-256)</th>\
             <th></th></tr></thead><tbody>",
        );
        for certificate in &list {
            let name = x509::read(&certificate.der)
                .map(|info| info.common_name)
                .unwrap_or_default();
            let state = match certificate.state_at(now) {
                CertificateState::Usable => "in use",
                CertificateState::NotForMail => "not for mail",
                CertificateState::Expired => "expired",
                CertificateState::NotYetValid => "not yet valid",
            };
            content.push_str(&format!(
                "<tr><td>{}</td><td>{} to {} ({state})</td><td><code>{}</code></td><td>\
                 <form method=\"post\" action=\"/web/certificates\">{}\
                 <input type=\"hidden\" name=\"action\" value=\"remove\">\
                 <input type=\"hidden\" name=\"fingerprint\" value=\"{}\">\
                 <button type=\"submit\">Remove</button></form></td></tr>",
                html::escape(&name),
                crate::clock::iso_date(certificate.not_before),
                crate::clock::iso_date(certificate.not_after),
                html::escape(&certificate.fingerprint),
                html::csrf_field(visitor),
                html::escape(&certificate.fingerprint),
            ));
        }
        content.push_str("</tbody></table>");
    }
    content.push_str(&format!(
        "<form method=\"post\" action=\"/web/certificates\" class=\"card\">{}\
         <input type=\"hidden\" name=\"action\" value=\"add\">\
         <label for=\"pem\">Add a certificate: paste it as PEM text (the lines from \
         -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----). It must be for {}.</label>\
         <textarea id=\"pem\" name=\"pem\" rows=\"10\" required></textarea>\
         <p><button type=\"submit\">Add certificate</button></p></form>",
        html::csrf_field(visitor),
        html::escape(&user.email),
    ));
    Page::html(
        status,
        html::layout("S/MIME certificates", Some(visitor), &content),
    )
}

pub fn act(env: &mut WebEnv, visitor: &Visitor, form: &Form) -> Page {
    let user = &visitor.session.user;
    match form.text("action") {
        "add" => match store_file(env.store, user, form.text("pem").as_bytes(), "user") {
            Ok(Ok(_)) => Page::see_other("/web/certificates?done=added"),
            Ok(Err(refusal)) => {
                let text = format!("Not stored: {refusal}.");
                render(env, visitor, 400, html::error(&text))
            }
            Err(StoreError::Invalid(text) | StoreError::Conflict(text)) => render(
                env,
                visitor,
                400,
                html::error(&format!("Not stored: {text}.")),
            ),
            Err(e) => Page::internal(&e),
        },
        "remove" => match env
            .store
            .remove_user_certificate(user.id, form.text("fingerprint"))
        {
            Ok(_) => Page::see_other("/web/certificates?done=removed"),
            Err(StoreError::NotFound(_) | StoreError::Invalid(_) | StoreError::Conflict(_)) => {
                render(
                    env,
                    visitor,
                    400,
                    html::error("There is no such certificate of yours."),
                )
            }
            Err(e) => Page::internal(&e),
        },
        _ => Page::problem(400, "Not understood", "The form asked for nothing known."),
    }
}
