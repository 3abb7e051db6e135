//! One Collection of a Sync request: parsing it (SyncKey, CollectionId, GetChanges,
//! WindowSize, DeletesAsMoves, Options, Commands), the defaults MS-ASCMD gives absent
//! elements, and the per-collection state kept with each sync key (the options in force and
//! the FilterType window the client was last brought to), stored as the sync state's `data`.

use crate::policy::EffectivePolicy;
use crate::store::ItemClass;
use crate::wbxml::{tag::airsync, tag::airsyncbase, Element, Tag};

/// Default and largest WindowSize (MS-ASCMD 2.2.3.199).
pub const DEFAULT_WINDOW: usize = 100;
pub const MAX_WINDOW: usize = 512;

/// One AirSyncBase BodyPreference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyPreference {
    /// 1 plain, 2 HTML, 3 RTF, 4 MIME.
    pub body_type: u8,
    pub truncation_size: Option<u64>,
    pub all_or_none: bool,
    /// Characters of Preview wanted (14.0+), `None`: no preview.
    pub preview: Option<u32>,
}

/// A collection's Options; they persist with the sync state, since clients send them only
/// when they change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// 0 = everything; see [`filter_seconds`].
    pub filter_type: u8,
    pub body_preferences: Vec<BodyPreference>,
    /// 0 never MIME, 1 MIME for S/MIME only, 2 MIME always.
    pub mime_support: u8,
    /// 2.5 truncation codes (`None`: absent).
    pub mime_truncation: Option<u8>,
    pub truncation: Option<u8>,
    /// `Conflict` 0: the client's change wins over a change made on the server since its
    /// sync key. Absent or 1 (the default): the server's wins.
    pub client_wins: bool,
}

/// 2.5 `Truncation` codes → bytes, as [`super::body`] applies them (9: whole).
const TRUNCATION_CODE_BYTES: [u64; 9] = [0, 512, 1024, 2048, 5120, 10240, 20480, 51200, 102_400];
/// 2.5 `MIMETruncation` codes → bytes (8: whole).
const MIME_TRUNCATION_CODE_BYTES: [u64; 8] = [0, 4096, 5120, 7168, 10240, 20480, 51200, 102_400];

impl Options {
    /// Caps what the client asked for by the security policy: FilterType by
    /// MaxEmailAgeFilter (mail) or MaxCalendarAgeFilter (calendars); body truncation by
    /// MaxEmailBodyTruncationSize / MaxEmailHTMLBodyTruncationSize (MIME counts as plain text);
    /// and with AllowHTMLEmail=0, HTML and MIME bodies become plain text.
    pub fn capped_by(&mut self, policy: &EffectivePolicy, class: ItemClass) {
        let filter_cap = match class {
            ItemClass::Email => policy.max_email_filter(),
            ItemClass::Calendar => policy.max_calendar_filter(),
            _ => None,
        };
        if let Some(cap) = filter_cap {
            // Within a class, a larger FilterType reaches further back; 0 is everything.
            if self.filter_type == 0 || self.filter_type > cap {
                self.filter_type = cap;
            }
        }
        if class != ItemClass::Email {
            return;
        }
        if !policy.allows_html() {
            self.mime_support = 0;
            self.mime_truncation = None;
            let mut preferences: Vec<BodyPreference> = Vec::new();
            for mut preference in std::mem::take(&mut self.body_preferences) {
                if matches!(preference.body_type, 2 | 4) {
                    preference.body_type = 1;
                }
                if !preferences
                    .iter()
                    .any(|p| p.body_type == preference.body_type)
                {
                    preferences.push(preference);
                }
            }
            self.body_preferences = preferences;
        }
        let (plain, html) = (policy.max_plain_body_bytes(), policy.max_html_body_bytes());
        for preference in &mut self.body_preferences {
            let cap = if preference.body_type == 2 {
                html
            } else {
                plain
            };
            if let Some(cap) = cap {
                preference.truncation_size =
                    Some(preference.truncation_size.map_or(cap, |t| t.min(cap)));
            }
        }
        if let Some(cap) = plain {
            self.truncation = Some(cap_code(self.truncation, &TRUNCATION_CODE_BYTES, cap));
            if self.mime_support > 0 {
                self.mime_truncation = Some(cap_code(
                    self.mime_truncation,
                    &MIME_TRUNCATION_CODE_BYTES,
                    cap,
                ));
            }
        }
    }
}

/// The 2.5 truncation code no larger than `cap` bytes (and no larger than `code`).
fn cap_code(code: Option<u8>, table: &[u64], cap: u64) -> u8 {
    let allowed = table.iter().rposition(|&bytes| bytes <= cap).unwrap_or(0);
    let asked = code.map_or(table.len(), usize::from);
    allowed.min(asked) as u8
}

/// How far back FilterType `filter` reaches, in seconds; `None` for no limit (0) and for
/// the values that are not about dates (8 = incomplete tasks).
pub fn filter_seconds(filter: u8) -> Option<i64> {
    const DAY: i64 = 86_400;
    Some(match filter {
        1 => DAY,
        2 => 3 * DAY,
        3 => 7 * DAY,
        4 => 14 * DAY,
        5 => 30 * DAY,
        6 => 91 * DAY,
        7 => 182 * DAY,
        _ => return None,
    })
}

/// The oldest date inside FilterType `filter`'s window at time `now`, `None` for no window.
/// Whole hours, so that a window sliding with the clock does not make every request a change
/// of state.
pub fn window_cutoff(filter: u8, now: i64) -> Option<i64> {
    filter_seconds(filter).map(|span| (now - span).div_euclid(3600) * 3600)
}

/// What the server remembers with a sync key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CollectionState {
    pub options: Options,
    /// Items dated before this were outside the client's FilterType window when the key
    /// was issued (`None`: no window).
    pub cutoff: Option<i64>,
    /// The Supported list of the client's initial Sync (ghosting, MS-ASCMD 2.2.3.168): the
    /// properties it manages; `None` when it sent none.
    pub supported: Option<Vec<Tag>>,
}

impl CollectionState {
    /// The `data` blob of the sync state: `key=value` lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let o = &self.options;
        let opt = |v: Option<u8>| v.map(|v| v.to_string()).unwrap_or_default();
        let mut text = format!(
            "filter={}\nmime_support={}\nmime_truncation={}\ntruncation={}\ncutoff={}\n",
            o.filter_type,
            o.mime_support,
            opt(o.mime_truncation),
            opt(o.truncation),
            self.cutoff.map(|c| c.to_string()).unwrap_or_default()
        );
        if o.client_wins {
            text.push_str("client_wins=1\n");
        }
        if let Some(tags) = &self.supported {
            let list: Vec<String> = tags
                .iter()
                .map(|t| format!("{}:{}", t.page, t.token))
                .collect();
            text.push_str(&format!("supported={}\n", list.join(",")));
        }
        for p in &o.body_preferences {
            text.push_str(&format!(
                "body={},{},{},{}\n",
                p.body_type,
                p.truncation_size.map(|t| t.to_string()).unwrap_or_default(),
                u8::from(p.all_or_none),
                p.preview.map(|t| t.to_string()).unwrap_or_default()
            ));
        }
        text.into_bytes()
    }

    /// Reads [`CollectionState::to_bytes`]; unknown or damaged lines are skipped.
    pub fn from_bytes(bytes: &[u8]) -> CollectionState {
        let mut state = CollectionState::default();
        for line in String::from_utf8_lossy(bytes).lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let o = &mut state.options;
            match key {
                "filter" => o.filter_type = value.parse().unwrap_or(0),
                "mime_support" => o.mime_support = value.parse().unwrap_or(0),
                "mime_truncation" => o.mime_truncation = value.parse().ok(),
                "truncation" => o.truncation = value.parse().ok(),
                "cutoff" => state.cutoff = value.parse().ok(),
                "client_wins" => o.client_wins = value == "1",
                "supported" => {
                    state.supported = Some(
                        value
                            .split(',')
                            .filter_map(|pair| {
                                let (page, token) = pair.split_once(':')?;
                                Some(Tag {
                                    page: page.parse().ok()?,
                                    token: token.parse().ok()?,
                                })
                            })
                            .collect(),
                    )
                }
                "body" => {
                    let parts: Vec<&str> = value.split(',').collect();
                    if let [body_type, truncation, all_or_none, preview] = parts[..] {
                        if let Ok(body_type) = body_type.parse() {
                            o.body_preferences.push(BodyPreference {
                                body_type,
                                truncation_size: truncation.parse().ok(),
                                all_or_none: all_or_none == "1",
                                preview: preview.parse().ok(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        state
    }
}

/// A parsed Collection element of a request.
#[derive(Clone, Debug)]
pub struct CollectionRequest {
    pub sync_key: String,
    pub collection_id: String,
    pub get_changes: bool,
    pub window_size: usize,
    pub deletes_as_moves: bool,
    /// `None` when the request had no Options (the stored ones stay in force).
    pub options: Option<Options>,
    /// The Commands element's children, in order.
    pub commands: Vec<Element>,
    /// The tags listed in Supported (`None`: no Supported element).
    pub supported: Option<Vec<Tag>>,
}

/// Reads a Collection element; `None` when SyncKey or CollectionId is missing or a number
/// does not parse (Status 4).
pub fn parse(element: &Element) -> Option<CollectionRequest> {
    let sync_key = element.child_text(airsync::SYNC_KEY)?.trim().to_string();
    let collection_id = element
        .child_text(airsync::COLLECTION_ID)?
        .trim()
        .to_string();
    if sync_key.is_empty() || collection_id.is_empty() {
        return None;
    }
    let flag = |tag, absent: bool| -> Option<bool> {
        match element.child(tag) {
            None => Some(absent),
            Some(e) => match e.text().unwrap_or_default().trim() {
                "" | "1" => Some(true),
                "0" => Some(false),
                _ => None,
            },
        }
    };
    // Absent GetChanges means "no" with SyncKey 0 and "yes" otherwise (MS-ASCMD 2.2.3.84).
    let get_changes = flag(airsync::GET_CHANGES, sync_key != "0")?;
    let deletes_as_moves = flag(airsync::DELETES_AS_MOVES, true)?;
    let window_size = match element.child_text(airsync::WINDOW_SIZE) {
        None => DEFAULT_WINDOW,
        Some(text) => clamp_window(text.trim().parse().ok()?),
    };
    let options = match element.child(airsync::OPTIONS) {
        None => None,
        Some(options) => Some(parse_options(options)?),
    };
    let commands = element
        .child(airsync::COMMANDS)
        .map(|c| c.elements().cloned().collect())
        .unwrap_or_default();
    let supported = element
        .child(airsync::SUPPORTED)
        .map(|list| list.elements().map(|e| e.tag).collect());
    Some(CollectionRequest {
        supported,
        sync_key,
        collection_id,
        get_changes,
        window_size,
        deletes_as_moves,
        options,
        commands,
    })
}

/// 0 and values above 512 mean 512.
pub fn clamp_window(requested: usize) -> usize {
    if requested == 0 || requested > MAX_WINDOW {
        MAX_WINDOW
    } else {
        requested
    }
}

fn parse_options(element: &Element) -> Option<Options> {
    let number = |e: &Element, tag| -> Option<Option<u64>> {
        match e.child_text(tag) {
            None => Some(None),
            Some(text) => text.trim().parse().ok().map(Some),
        }
    };
    let small = |tag| -> Option<Option<u8>> {
        number(element, tag)?
            .map(|n| u8::try_from(n).ok())
            .map_or(Some(None), |n| n.map(Some))
    };
    let mut options = Options {
        filter_type: small(airsync::FILTER_TYPE)?.unwrap_or(0),
        mime_support: small(airsync::MIME_SUPPORT)?.unwrap_or(0),
        mime_truncation: small(airsync::MIME_TRUNCATION)?,
        truncation: small(airsync::TRUNCATION)?,
        body_preferences: Vec::new(),
        client_wins: small(airsync::CONFLICT)? == Some(0),
    };
    if options.filter_type > 8 || options.mime_support > 2 || small(airsync::CONFLICT)? > Some(1) {
        return None;
    }
    for preference in element.children_with(airsyncbase::BODY_PREFERENCE) {
        let body_type = number(preference, airsyncbase::TYPE)??;
        if !(1..=4).contains(&body_type) {
            return None;
        }
        let all_or_none = matches!(
            preference.child_text(airsyncbase::ALL_OR_NONE).as_deref(),
            Some("1")
        );
        options.body_preferences.push(BodyPreference {
            body_type: body_type as u8,
            truncation_size: number(preference, airsyncbase::TRUNCATION_SIZE)?,
            all_or_none,
            preview: number(preference, airsyncbase::PREVIEW)?.map(|p| p.min(255) as u32),
        });
    }
    Some(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Source;

    #[test]
    fn the_policy_caps_filter_bodies_and_html() {
        let policy = EffectivePolicy::resolve(&[(
            Source::Global,
            vec![
                ("MaxEmailAgeFilter".into(), "2".into()),
                ("MaxCalendarAgeFilter".into(), "5".into()),
                ("MaxEmailBodyTruncationSize".into(), "1".into()),
                ("AllowHTMLEmail".into(), "0".into()),
            ],
        )]);
        let mut options = Options {
            filter_type: 0,
            body_preferences: vec![
                BodyPreference {
                    body_type: 2,
                    truncation_size: Some(200_000),
                    ..BodyPreference::default()
                },
                BodyPreference {
                    body_type: 4,
                    ..BodyPreference::default()
                },
            ],
            mime_support: 2,
            mime_truncation: None,
            truncation: None,
            client_wins: false,
        };
        options.capped_by(&policy, ItemClass::Email);
        assert_eq!(options.filter_type, 2);
        assert_eq!(options.mime_support, 0);
        assert_eq!(
            options.body_preferences,
            [BodyPreference {
                body_type: 1,
                truncation_size: Some(1024),
                ..BodyPreference::default()
            }]
        );
        assert_eq!(options.truncation, Some(2));
        let mut narrow = Options {
            filter_type: 1,
            ..Options::default()
        };
        narrow.capped_by(&policy, ItemClass::Email);
        assert_eq!(narrow.filter_type, 1);
        let mut calendar = Options {
            filter_type: 7,
            ..Options::default()
        };
        calendar.capped_by(&policy, ItemClass::Calendar);
        assert_eq!(calendar.filter_type, 5);
    }

    #[test]
    fn state_round_trips() {
        let state = CollectionState {
            options: Options {
                filter_type: 3,
                body_preferences: vec![
                    BodyPreference {
                        body_type: 2,
                        truncation_size: Some(512),
                        all_or_none: true,
                        preview: Some(100),
                    },
                    BodyPreference {
                        body_type: 4,
                        ..BodyPreference::default()
                    },
                ],
                mime_support: 2,
                mime_truncation: Some(8),
                client_wins: true,
                truncation: None,
            },
            cutoff: Some(1_700_000_000),
            supported: Some(vec![crate::wbxml::tag::contacts::PICTURE]),
        };
        assert_eq!(CollectionState::from_bytes(&state.to_bytes()), state);
        assert_eq!(
            CollectionState::from_bytes(b"garbage\nfilter=x"),
            CollectionState::default()
        );
    }

    #[test]
    fn defaults_and_limits() {
        let mut element = Element::new(airsync::COLLECTION);
        element
            .push_text(airsync::SYNC_KEY, "0")
            .push_text(airsync::COLLECTION_ID, "5")
            .push_text(airsync::WINDOW_SIZE, "0");
        let parsed = parse(&element).unwrap();
        assert!(!parsed.get_changes);
        assert!(parsed.deletes_as_moves);
        assert_eq!(parsed.window_size, MAX_WINDOW);
        assert!(parsed.options.is_none());
        assert_eq!(clamp_window(600), MAX_WINDOW);
        assert_eq!(clamp_window(50), 50);

        element.push_text(airsync::GET_CHANGES, "maybe");
        assert!(parse(&element).is_none());
    }
}
