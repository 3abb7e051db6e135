//! The documents a device is provisioned with, written from the policy model
//! ([`crate::policy`], pure data): the EASProvisionDoc of MS-ASPROV (12.0 and later, WBXML
//! elements named like the settings) and the MS-WAP-Provisioning-XML characteristic document
//! for 2.5 devices.

use crate::policy::{EffectivePolicy, Kind};
use crate::protocol_version::ProtocolVersion;
use crate::wbxml::tag::provision as prov;
use crate::wbxml::{Element, Tag};

/// The Provision code page element named like the policy setting `name`.
fn provision_tag(name: &str) -> Option<Tag> {
    Tag::lookup(prov::EAS_PROVISION_DOC.namespace(), name)
        .filter(|tag| tag.page == prov::EAS_PROVISION_DOC.page)
}

/// The EASProvisionDoc for a device speaking `version`: every setting of `policy` that version
/// knows.
pub fn eas_provision_doc(policy: &EffectivePolicy, version: ProtocolVersion) -> Element {
    let mut doc = Element::new(prov::EAS_PROVISION_DOC);
    for (def, value, _) in policy.entries() {
        if !def.in_provision_doc || version < def.since {
            continue;
        }
        let Some(tag) = provision_tag(def.name) else {
            // The table test below keeps every name known; never send a wrong element.
            continue;
        };
        match def.kind {
            Kind::List => {
                let mut list = Element::new(tag);
                let item_tag = if tag == prov::APPROVED_APPLICATION_LIST {
                    prov::HASH
                } else {
                    prov::APPLICATION_NAME
                };
                for item in value.split(',').filter(|s| !s.is_empty()) {
                    list.push_text(item_tag, item);
                }
                doc.push(list);
            }
            _ if value.is_empty() => {
                doc.push(Element::new(tag));
            }
            _ => {
                doc.push_text(tag, value);
            }
        }
    }
    doc
}

/// The MS-WAP-Provisioning-XML document for 2.5 devices: the password settings that
/// Windows Mobile's security policy and LASSD registry keys express.
pub fn wap_provisioning_doc(policy: &EffectivePolicy) -> String {
    let password = policy.flag("DevicePasswordEnabled");
    let inactivity_minutes = policy
        .number("MaxInactivityTimeDeviceLock")
        .map(|seconds| (seconds + 59) / 60);
    let wipe_threshold = policy
        .number("MaxDevicePasswordFailedAttempts")
        .unwrap_or(-1);
    let min_length = policy.number("MinDevicePasswordLength").unwrap_or(1);
    // PasswordComplexity: 0 requires an alphanumeric password, 2 allows a simple PIN.
    let complexity = if policy.flag("AlphanumericDevicePasswordRequired") {
        0
    } else {
        2
    };
    let lassd = r"HKLM\Comm\Security\Policy\LASSD";
    let mut xml = String::from("<wap-provisioningdoc>");
    // Policy 4131: 0 when a password is required, 1 when it is not.
    xml.push_str(&format!(
        "<characteristic type=\"SecurityPolicy\"><parm name=\"4131\" value=\"{}\"/></characteristic>",
        if password { 0 } else { 1 }
    ));
    xml.push_str("<characteristic type=\"Registry\">");
    xml.push_str(&format!(
        "<characteristic type=\"{lassd}\\AE\\{{50C13377-C66D-400C-889E-C316FC4AB374}}\">\
         <parm name=\"AEFrequencyType\" value=\"{}\"/><parm name=\"AEFrequencyValue\" value=\"{}\"/>\
         </characteristic>",
        if inactivity_minutes.is_some() { 1 } else { 0 },
        inactivity_minutes.unwrap_or(0)
    ));
    xml.push_str(&format!(
        "<characteristic type=\"{lassd}\"><parm name=\"DeviceWipeThreshold\" value=\"{wipe_threshold}\"/></characteristic>"
    ));
    xml.push_str(&format!(
        "<characteristic type=\"{lassd}\"><parm name=\"CodewordFrequency\" value=\"{}\"/></characteristic>",
        if wipe_threshold > 0 { wipe_threshold / 2 } else { 0 }
    ));
    xml.push_str(&format!(
        "<characteristic type=\"{lassd}\\LAP\\lap_pw\"><parm name=\"MinimumPasswordLength\" value=\"{min_length}\"/></characteristic>"
    ));
    xml.push_str(&format!(
        "<characteristic type=\"{lassd}\\LAP\\lap_pw\"><parm name=\"PasswordComplexity\" value=\"{complexity}\"/></characteristic>"
    ));
    xml.push_str("</characteristic></wap-provisioningdoc>");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Source, SETTINGS};

    #[test]
    fn every_provision_doc_setting_names_a_provision_element() {
        for def in SETTINGS.iter().filter(|s| s.in_provision_doc) {
            let tag = provision_tag(def.name).unwrap_or_else(|| panic!("{}", def.name));
            assert_eq!(tag.name(), def.name);
        }
        assert_eq!(provision_tag("allow-non-provisionable"), None);
    }

    #[test]
    fn the_provision_doc_follows_the_version() {
        let policy = EffectivePolicy::default();
        let doc12 = eas_provision_doc(&policy, ProtocolVersion::V12_0);
        let doc141 = eas_provision_doc(&policy, ProtocolVersion::V14_1);
        assert_eq!(doc12.elements().count(), 13);
        assert_eq!(
            doc141.elements().count(),
            SETTINGS.iter().filter(|s| s.in_provision_doc).count()
        );
        assert!(doc141.child(prov::ALLOW_HTML_EMAIL).is_some());
        assert!(doc12.child(prov::ALLOW_HTML_EMAIL).is_none());
    }

    #[test]
    fn lists_and_empty_values_are_written_as_elements() {
        let policy = EffectivePolicy::resolve(&[(
            Source::Global,
            vec![
                ("ApprovedApplicationList".to_string(), "aa,bb".to_string()),
                ("MaxAttachmentSize".to_string(), "unlimited".to_string()),
            ],
        )]);
        let doc = eas_provision_doc(&policy, ProtocolVersion::V14_1);
        let list = doc.child(prov::APPROVED_APPLICATION_LIST).unwrap();
        let hashes: Vec<_> = list.children_with(prov::HASH).map(|h| h.text()).collect();
        assert_eq!(hashes, [Some("aa".to_string()), Some("bb".to_string())]);
        assert!(doc
            .child(prov::MAX_ATTACHMENT_SIZE)
            .unwrap()
            .children
            .is_empty());
        assert!(wap_provisioning_doc(&policy).starts_with("<wap-provisioningdoc>"));
    }
}
