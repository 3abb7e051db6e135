//! The hand-written WBXML codec for Exchange ActiveSync (MS-ASWBXML) and the EAS code pages.
//!
//! - [`decode()`] / [`decode_with`]: WBXML bytes from a client into an [`Element`] tree, bounded by
//!   [`Limits`]; malformed input gives a [`DecodeError`], never a panic.
//! - [`encode()`]: an [`Element`] tree into WBXML bytes, identical to what libwbxml's
//!   `xml2wbxml -n -a` writes for the same document.
//! - [`tag`]: one constant per tag of code pages 0–25 (`tag::airsync::SYNC_KEY`, ...), generated
//!   from the same table the codec uses; [`Tag`] names them.
//! - [`xml`]: the same trees as libwbxml-shaped XML, for the command line, logs and tests.
//!
//! ```
//! use easd::wbxml::{self, tag::folder_hierarchy as fh, Element};
//!
//! let mut request = Element::new(fh::FOLDER_SYNC);
//! request.push_text(fh::SYNC_KEY, "0");
//! let bytes = wbxml::encode(&request);
//! assert_eq!(bytes, [0x03, 0x01, 0x6A, 0x00, 0x00, 0x07, 0x56, 0x52, 0x03, b'0', 0x00, 0x01, 0x01]);
//! assert_eq!(wbxml::decode(&bytes)?, request);
//! # Ok::<(), wbxml::DecodeError>(())
//! ```

mod decode;
mod encode;
mod pages;
mod tree;
pub mod xml;

pub use self::xml::XmlError;
pub use decode::{decode, decode_with, DecodeError, Limits};
pub use encode::encode;
pub use pages::{tag, Tag};
pub use tree::{Element, Node};

#[cfg(test)]
mod tests {
    //! Hand-checked byte vectors for what libwbxml 0.11.8 cannot cross-check: code page 25 (Find)
    //! and the 16.1 tokens it lacks. Bytes worked out by hand from the MS-ASWBXML tables.

    use super::tag::{airsync, find, meeting_response, provision};
    use super::*;

    /// Header `03 01 6A 00`, then the body.
    fn document(body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0x03, 0x01, 0x6A, 0x00];
        bytes.extend_from_slice(body);
        bytes
    }

    fn assert_round_trip(root: &Element, body: &[u8]) {
        let bytes = document(body);
        assert_eq!(encode(root), bytes, "encoding {}", root.tag);
        assert_eq!(
            &decode(&bytes).expect("decodes"),
            root,
            "decoding {}",
            root.tag
        );
    }

    #[test]
    fn find_request_as_ms_ascmd_shows_it() {
        // <Find xmlns="Find:"><SearchId>1</SearchId><ExecuteSearch><MailBoxSearchCriterion>
        // <Query><FreeText>x</FreeText><Class xmlns="AirSync:">Email</Class></Query>
        // <Options><Range>0-9</Range><DeepTraversal/></Options>
        // </MailBoxSearchCriterion></ExecuteSearch></Find>
        let mut root = Element::new(find::FIND);
        root.push_text(find::SEARCH_ID, "1");
        let criterion = root
            .push(Element::new(find::EXECUTE_SEARCH))
            .push(Element::new(find::MAIL_BOX_SEARCH_CRITERION));
        criterion
            .push(Element::new(find::QUERY))
            .push_text(find::FREE_TEXT, "x")
            .push_text(airsync::CLASS, "Email");
        criterion
            .push(Element::new(find::OPTIONS))
            .push_text(find::RANGE, "0-9")
            .push_empty(find::DEEP_TRAVERSAL);
        #[rustfmt::skip]
        let body = [
            0x00, 0x19, // SWITCH_PAGE 25 (Find)
            0x45,       // Find, with content
            0x46, 0x03, b'1', 0x00, 0x01, // SearchId "1"
            0x47,       // ExecuteSearch
            0x48,       // MailBoxSearchCriterion
            0x49,       // Query
            0x4B, 0x03, b'x', 0x00, 0x01, // FreeText "x"
            0x00, 0x00, 0x50, 0x03, b'E', b'm', b'a', b'i', b'l', 0x00, 0x01, // AirSync:Class
            0x01,       // end Query
            0x00, 0x19, 0x4C, // SWITCH_PAGE 25, Options
            0x4D, 0x03, b'0', b'-', b'9', 0x00, 0x01, // Range "0-9"
            0x0E,       // DeepTraversal, empty
            0x01, 0x01, 0x01, 0x01, // end Options, MailBoxSearchCriterion, ExecuteSearch, Find
        ];
        assert_round_trip(&root, &body);
    }

    #[test]
    fn the_pyactivesync_find_request_decodes_with_the_ms_table() {
        let bytes = document(&[
            0x00, 0x19, 0x45, 0x46, 0x03, b'i', b'd', 0x00, 0x01, 0x47, 0x48, 0x49, 0x4B, 0x03,
            b'q', 0x00, 0x01, 0x00, 0x00, 0x50, 0x03, b'E', b'm', b'a', b'i', b'l', 0x00, 0x01,
            0x52, 0x03, b'1', 0x00, 0x01, 0x01, 0x00, 0x19, 0x4C, 0x4D, 0x03, b'0', b'-', b'9',
            0x00, 0x01, 0x01, 0x01, 0x01, 0x01,
        ]);
        let root = decode(&bytes).expect("decodes");
        let criterion = root
            .child(find::EXECUTE_SEARCH)
            .and_then(|e| e.child(find::MAIL_BOX_SEARCH_CRITERION))
            .expect("criterion");
        let query = criterion.child(find::QUERY).expect("query");
        assert_eq!(query.child_text(find::FREE_TEXT).as_deref(), Some("q"));
        assert_eq!(query.child_text(airsync::CLASS).as_deref(), Some("Email"));
        assert_eq!(
            query.child_text(airsync::COLLECTION_ID).as_deref(),
            Some("1")
        );
        let range = criterion
            .child(find::OPTIONS)
            .and_then(|o| o.child_text(find::RANGE));
        assert_eq!(range.as_deref(), Some("0-9"));
        assert_eq!(encode(&root), bytes);
    }

    #[test]
    fn find_response_tokens_past_the_gap() {
        // Response 0x11 .. Total 0x16, GalSearchCriterion 0x19, MaxPictures 0x20 .. Picture 0x22.
        let mut root = Element::new(find::FIND);
        root.push_text(find::STATUS, "1");
        let response = root.push(Element::new(find::RESPONSE));
        response.push_text(find::TOTAL, "1");
        let result = response.push(Element::new(find::RESULT));
        let properties = result.push(Element::new(find::PROPERTIES));
        properties
            .push_text(find::PREVIEW, "p")
            .push_text(find::HAS_ATTACHMENTS, "0");
        properties
            .push_text(find::DISPLAY_CC, "c")
            .push_text(find::DISPLAY_BCC, "b");
        properties
            .push(Element::new(find::PICTURE))
            .push_text(find::MAX_SIZE, "9")
            .push_text(find::MAX_PICTURES, "2");
        root.push_empty(find::GAL_SEARCH_CRITERION);
        #[rustfmt::skip]
        let body = [
            0x00, 0x19, 0x45,
            0x4A, 0x03, b'1', 0x00, 0x01,             // Status
            0x51,                                     // Response
            0x56, 0x03, b'1', 0x00, 0x01,             // Total
            0x52, 0x53,                               // Result, Properties
            0x54, 0x03, b'p', 0x00, 0x01,             // Preview
            0x55, 0x03, b'0', 0x00, 0x01,             // HasAttachments
            0x57, 0x03, b'c', 0x00, 0x01,             // DisplayCc
            0x58, 0x03, b'b', 0x00, 0x01,             // DisplayBcc
            0x62,                                     // Picture
            0x61, 0x03, b'9', 0x00, 0x01,             // MaxSize
            0x60, 0x03, b'2', 0x00, 0x01,             // MaxPictures
            0x01, 0x01, 0x01, 0x01,                   // end Picture, Properties, Result, Response
            0x19,                                     // GalSearchCriterion, empty
            0x01,
        ];
        assert_round_trip(&root, &body);
    }

    #[test]
    fn sixteen_one_tokens_libwbxml_lacks() {
        // <Provision xmlns="Provision:"><AccountOnlyRemoteWipe><Status>1</Status></AccountOnlyRemoteWipe></Provision>
        let mut wipe = Element::new(provision::PROVISION);
        wipe.push(Element::new(provision::ACCOUNT_ONLY_REMOTE_WIPE))
            .push_text(provision::STATUS, "1");
        assert_round_trip(
            &wipe,
            &[
                0x00, 0x0E, 0x45, 0x7B, 0x4B, 0x03, b'1', 0x00, 0x01, 0x01, 0x01,
            ],
        );

        // <MeetingResponse xmlns="MeetingResponse:"><Request><ProposedStartTime>s</ProposedStartTime>
        // <ProposedEndTime>e</ProposedEndTime></Request></MeetingResponse>
        let mut meeting = Element::new(meeting_response::MEETING_RESPONSE);
        meeting
            .push(Element::new(meeting_response::REQUEST))
            .push_text(meeting_response::PROPOSED_START_TIME, "s")
            .push_text(meeting_response::PROPOSED_END_TIME, "e");
        #[rustfmt::skip]
        let body = [
            0x00, 0x08, 0x47, 0x49,
            0x50, 0x03, b's', 0x00, 0x01,
            0x51, 0x03, b'e', 0x00, 0x01,
            0x01, 0x01,
        ];
        assert_round_trip(&meeting, &body);
    }

    #[test]
    fn find_and_new_tokens_through_xml() {
        let mut root = Element::new(find::FIND);
        root.push_text(find::SEARCH_ID, "s")
            .push_empty(find::GAL_SEARCH_CRITERION);
        root.push_text(provision::ACCOUNT_ONLY_REMOTE_WIPE, "x");
        let text = xml::to_xml(&root);
        assert!(
            text.contains(
                "<Find xmlns=\"Find:\">\n<SearchId>s</SearchId>\n<GalSearchCriterion/>\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("<AccountOnlyRemoteWipe xmlns=\"Provision:\">x</AccountOnlyRemoteWipe>"),
            "{text}"
        );
        assert_eq!(xml::from_xml(&text).expect("reads back"), root);
    }
}
