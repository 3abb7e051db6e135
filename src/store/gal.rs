//! The address book (Global Address List) of a user: the users of this server that share the
//! user's domain, with the fields an administrator set for them, plus the contacts of folders
//! an administrator published to that domain; and the lookup of the user's own contacts for
//! recipient resolution. Matching is a prefix match on each word of the names and on the
//! address, case- and accent-insensitive ([`fold`]). Knows no WBXML: entries are plain fields.
//!
//! Users are read through the `users_domain` index (only the domain's rows); contacts only
//! from the published folders of the domain (and, for [`Store::own_contacts_matching`], the
//! user's own contact folders), never from every contact of the server.

use rusqlite::{params, OptionalExtension};

use super::records::{Property, PropertyRecord};
use super::{now, FolderType, Store, StoreError, User, UserId};

/// Largest photo an administrator may set (bytes); MS-ASCMD Picture data is meant to be small.
pub const MAX_PHOTO_BYTES: usize = 100 * 1024;

/// One person of the address book.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GalEntry {
    pub display_name: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub mobile_phone: String,
    pub home_phone: String,
    pub title: String,
    pub company: String,
    pub office: String,
    /// The part of a user's address before the `@` (empty for published contacts).
    pub alias: String,
    pub photo: Option<Vec<u8>>,
}

/// One page of address-book matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GalPage {
    /// How many entries match in all.
    pub total: usize,
    /// The entries of the page asked for.
    pub entries: Vec<GalEntry>,
}

/// Fields an administrator sets for a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProfileChange {
    pub display_name: Option<String>,
    pub phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub title: Option<String>,
    pub company: Option<String>,
    pub office: Option<String>,
    /// `Some(None)` removes the photo.
    pub photo: Option<Option<Vec<u8>>>,
}

/// A published folder as `easd gal show` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedFolder {
    pub owner: String,
    pub folder: String,
    pub contacts: usize,
}

/// Lower case with the accents of Latin letters removed, so "Zoë", "ZOE" and "zoe" compare equal.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let base = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'ç' | 'ć' | 'č' => "c",
            'ď' | 'đ' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
            'ł' | 'ľ' | 'ĺ' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'ŕ' | 'ř' => "r",
            'ś' | 'š' | 'ş' => "s",
            'ť' | 'ţ' => "t",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            'ß' => "ss",
            'æ' => "ae",
            'œ' => "oe",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(base);
    }
    out
}

/// The address of `"Name" <addr>` or of a bare address, lower-cased.
pub fn bare_address(text: &str) -> String {
    let inner = match (text.rfind('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text,
    };
    inner.trim().to_lowercase()
}

/// Whether the folded query starts one of the words of `text` (or all of it).
fn prefix_matches(folded_query: &str, text: &str) -> bool {
    if folded_query.is_empty() || text.is_empty() {
        return false;
    }
    if text.is_ascii() {
        // The common case, without allocating: ASCII folds to itself in lower case.
        return ascii_prefix_matches(folded_query.as_bytes(), text.as_bytes());
    }
    let folded = fold(text);
    folded.starts_with(folded_query)
        || folded
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| word.starts_with(folded_query))
}

fn ascii_prefix_matches(query: &[u8], text: &[u8]) -> bool {
    let starts_here = |at: usize| {
        text.len() - at >= query.len() && text[at..at + query.len()].eq_ignore_ascii_case(query)
    };
    if starts_here(0) {
        return true;
    }
    (1..text.len()).any(|at| {
        !text[at - 1].is_ascii_alphanumeric() && text[at].is_ascii_alphanumeric() && starts_here(at)
    })
}

impl GalEntry {
    /// Whether the query (already folded) matches a name or the address of this entry.
    pub fn matches(&self, folded_query: &str) -> bool {
        [
            &self.display_name,
            &self.first_name,
            &self.last_name,
            &self.email,
            &self.alias,
        ]
        .iter()
        .any(|text| prefix_matches(folded_query, text))
    }

    /// The entry of a contact record (property names of MS-ASCNTC); `None` without a name
    /// or an address to show.
    pub fn from_contact(record: &PropertyRecord) -> Option<GalEntry> {
        let text = |name: &str| record.text(name).unwrap_or_default().trim().to_string();
        let first_name = text("FirstName");
        let last_name = text("LastName");
        let mut display_name = text("FileAs");
        if display_name.is_empty() {
            display_name = [first_name.as_str(), last_name.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
        }
        let email = bare_address(&text("Email1Address"));
        if display_name.is_empty() && email.is_empty() {
            return None;
        }
        let photo = match record.get("Picture") {
            Some(Property::Bytes(bytes)) if !bytes.is_empty() => Some(bytes.clone()),
            _ => None,
        };
        Some(GalEntry {
            display_name,
            email,
            first_name,
            last_name,
            phone: text("BusinessPhoneNumber"),
            mobile_phone: text("MobilePhoneNumber"),
            home_phone: text("HomePhoneNumber"),
            title: text("JobTitle"),
            company: text("CompanyName"),
            office: text("OfficeLocation"),
            alias: String::new(),
            photo,
        })
    }
}

impl Store {
    /// The address-book entries of `user`'s domain matching `query`, users first then
    /// published contacts, each group sorted by display name: `limit` of them from position
    /// `skip`, and how many match in all. Only the entries returned are read whole.
    pub fn gal_search(
        &self,
        user: &User,
        query: &str,
        skip: usize,
        limit: usize,
    ) -> Result<GalPage, StoreError> {
        let folded = fold(query.trim());
        if folded.is_empty() {
            return Ok(GalPage::default());
        }
        let users = self.matching_users(&user.domain, &folded)?;
        let mut contacts: Vec<GalEntry> = self
            .published_contacts(&user.domain)?
            .into_iter()
            .filter(|e| e.matches(&folded))
            .collect();
        contacts.sort_by_cached_key(|e| fold(&e.display_name));
        let total = users.len() + contacts.len();
        let mut entries = Vec::new();
        for position in skip..total.min(skip.saturating_add(limit)) {
            entries.push(match users.get(position) {
                Some((_, id)) => self.read_user(*id)?,
                None => contacts[position - users.len()].clone(),
            });
        }
        Ok(GalPage { total, entries })
    }

    /// The whole address book of `user` (`easd gal show`), users first.
    pub fn gal_entries(&self, user: &User) -> Result<Vec<GalEntry>, StoreError> {
        let mut entries = Vec::new();
        for (_, id) in self.matching_users(&user.domain, "")? {
            entries.push(self.read_user(id)?);
        }
        entries.extend(self.published_contacts(&user.domain)?);
        Ok(entries)
    }

    /// The contacts of `user`'s own contact folders matching `query` (recipient resolution).
    pub fn own_contacts_matching(
        &self,
        user: UserId,
        query: &str,
    ) -> Result<Vec<GalEntry>, StoreError> {
        let folded = fold(query.trim());
        if folded.is_empty() {
            return Ok(Vec::new());
        }
        let mut statement = self.conn.prepare_cached(
            "SELECT r.record FROM item_records r JOIN items i ON i.id = r.item_id
             WHERE i.user_id = ?1 AND i.class = 'Contacts' ORDER BY i.id",
        )?;
        let rows = statement.query_map([user], |row| row.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for bytes in rows {
            if let Some(entry) = PropertyRecord::from_bytes(&bytes?)
                .as_ref()
                .and_then(GalEntry::from_contact)
            {
                if entry.matches(&folded) {
                    out.push(entry);
                }
            }
        }
        Ok(out)
    }

    /// The users of the domain whose name or address matches the folded query (all of them
    /// for an empty query) as (folded display name, id), sorted. Only the name and address
    /// are read here; [`Store::read_user`] reads the rest for the entries shown.
    fn matching_users(
        &self,
        domain: &str,
        folded_query: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut scan = self.conn.prepare_cached(
            "SELECT u.id, u.display_name, u.email
             FROM users u JOIN domains d ON d.id = u.domain_id WHERE d.name = ?1",
        )?;
        let mut matching = Vec::new();
        let mut rows = scan.query([domain])?;
        while let Some(row) = rows.next()? {
            let name: String = row.get(1)?;
            let email: String = row.get(2)?;
            if folded_query.is_empty()
                || prefix_matches(folded_query, &name)
                || prefix_matches(folded_query, &email)
            {
                matching.push((fold(&name), row.get::<_, i64>(0)?));
            }
        }
        matching.sort();
        Ok(matching)
    }

    /// One user's address-book entry, photo included.
    fn read_user(&self, id: i64) -> Result<GalEntry, StoreError> {
        let mut read = self.conn.prepare_cached(
            "SELECT display_name, email, local_part, phone, mobile_phone, title, company, office,
                    photo
             FROM users WHERE id = ?1",
        )?;
        Ok(read.query_row([id], |row| {
            Ok(GalEntry {
                display_name: row.get(0)?,
                email: row.get(1)?,
                alias: row.get(2)?,
                phone: row.get(3)?,
                mobile_phone: row.get(4)?,
                title: row.get(5)?,
                company: row.get(6)?,
                office: row.get(7)?,
                photo: row.get(8)?,
                ..GalEntry::default()
            })
        })?)
    }

    /// The contacts of the folders published to the domain.
    fn published_contacts(&self, domain: &str) -> Result<Vec<GalEntry>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT r.record FROM gal_published_folders g
             JOIN folders f ON f.id = g.folder_id
             JOIN users u ON u.id = f.user_id
             JOIN domains d ON d.id = u.domain_id
             JOIN items i ON i.folder_id = f.id
             JOIN item_records r ON r.item_id = i.id
             WHERE d.name = ?1 ORDER BY i.id",
        )?;
        let rows = statement.query_map([domain], |row| row.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for bytes in rows {
            if let Some(entry) = PropertyRecord::from_bytes(&bytes?)
                .as_ref()
                .and_then(GalEntry::from_contact)
            {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Sets the administrator's fields of a user, in one transaction.
    pub fn set_user_profile(&self, email: &str, change: &ProfileChange) -> Result<(), StoreError> {
        let email = email.trim().to_lowercase();
        if let Some(Some(photo)) = &change.photo {
            if photo.len() > MAX_PHOTO_BYTES {
                return Err(StoreError::Invalid(format!(
                    "the photo is larger than {} KB",
                    MAX_PHOTO_BYTES / 1024
                )));
            }
        }
        if let Some(name) = &change.display_name {
            if name.trim().is_empty() || name.chars().count() > 256 {
                return Err(StoreError::Invalid(
                    "the display name must be 1 to 256 characters".into(),
                ));
            }
        }
        let tx = self.conn.unchecked_transaction()?;
        let found: Option<i64> = tx
            .query_row("SELECT id FROM users WHERE email = ?1", [&email], |row| {
                row.get(0)
            })
            .optional()?;
        let Some(id) = found else {
            return Err(StoreError::NotFound(format!("no such user: {email}")));
        };
        let texts = [
            ("display_name", &change.display_name),
            ("phone", &change.phone),
            ("mobile_phone", &change.mobile_phone),
            ("title", &change.title),
            ("company", &change.company),
            ("office", &change.office),
        ];
        for (column, value) in texts {
            if let Some(value) = value {
                // The column names are the constants above, never input.
                tx.execute(
                    &format!("UPDATE users SET {column} = ?1 WHERE id = ?2"),
                    params![value.trim(), id],
                )?;
            }
        }
        if let Some(photo) = &change.photo {
            tx.execute(
                "UPDATE users SET photo = ?1 WHERE id = ?2",
                params![photo, id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Publishes (or withdraws) the contact folder `folder` of `owner` to the owner's domain.
    pub fn set_folder_published(
        &self,
        owner: &str,
        folder: &str,
        published: bool,
    ) -> Result<(), StoreError> {
        let owner = owner.trim().to_lowercase();
        let Some(user) = self.user_by_email(&owner)? else {
            return Err(StoreError::NotFound(format!("no such user: {owner}")));
        };
        let found = self.folders_of(user.id)?.into_iter().find(|f| {
            matches!(
                f.folder_type,
                FolderType::Contacts | FolderType::UserContacts
            ) && f.name.eq_ignore_ascii_case(folder.trim())
        });
        let Some(found) = found else {
            return Err(StoreError::NotFound(format!(
                "{owner} has no contacts folder named {folder:?}"
            )));
        };
        if published {
            self.conn.execute(
                "INSERT OR IGNORE INTO gal_published_folders (folder_id, published) VALUES (?1, ?2)",
                params![found.id, now()],
            )?;
        } else {
            self.conn.execute(
                "DELETE FROM gal_published_folders WHERE folder_id = ?1",
                [found.id],
            )?;
        }
        Ok(())
    }

    /// The published folders of every domain.
    pub fn published_folders(&self) -> Result<Vec<PublishedFolder>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT u.email, f.name, (SELECT count(*) FROM items i WHERE i.folder_id = f.id)
             FROM gal_published_folders g JOIN folders f ON f.id = g.folder_id
             JOIN users u ON u.id = f.user_id ORDER BY u.email, f.name",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(PublishedFolder {
                owner: row.get(0)?,
                folder: row.get(1)?,
                contacts: row.get::<_, i64>(2)?.try_into().unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_and_accents() {
        assert_eq!(fold("Zoë ÉCLAIR Straße"), "zoe eclair strasse");
        assert!(prefix_matches(&fold("zo"), "Zoë Smith"));
        assert!(prefix_matches(&fold("SMI"), "Zoë Smith"));
        assert!(prefix_matches("zoe.s", "zoe.smith@example.com"));
        assert!(!prefix_matches("mith", "Zoë Smith"));
        assert!(!prefix_matches("", "Zoë Smith"));
        assert!(prefix_matches("smi", "Zoe Smith"));
        assert!(prefix_matches("o'b", "Pat O'Brien"));
        assert!(prefix_matches("bri", "Pat O'Brien"));
        assert!(!prefix_matches("rien", "Pat O'Brien"));
        assert!(!prefix_matches("zoe smithy", "Zoe Smith"));
    }

    #[test]
    fn domain_users_are_searched_and_other_domains_are_not() {
        let store = Store::open_in_memory().unwrap();
        let alice = store
            .add_user("alice@a.test", "Alice Ånström", "pw-123456")
            .unwrap();
        store
            .add_user("bob@a.test", "Bob Builder", "pw-123456")
            .unwrap();
        let carol = store
            .add_user("carol@b.test", "Carol", "pw-123456")
            .unwrap();
        store
            .set_user_profile(
                "bob@a.test",
                &ProfileChange {
                    phone: Some("+1 555".into()),
                    photo: Some(Some(vec![1, 2, 3])),
                    ..ProfileChange::default()
                },
            )
            .unwrap();
        let page = store.gal_search(&alice, "bo", 0, 10).unwrap();
        assert_eq!(page.total, 1);
        let found = page.entries;
        assert_eq!(found[0].email, "bob@a.test");
        assert_eq!(found[0].phone, "+1 555");
        assert_eq!(found[0].photo, Some(vec![1, 2, 3]));
        assert_eq!(store.gal_search(&alice, "ANST", 0, 10).unwrap().total, 1);
        assert!(store
            .gal_search(&carol, "bo", 0, 10)
            .unwrap()
            .entries
            .is_empty());
        let big = ProfileChange {
            photo: Some(Some(vec![0; MAX_PHOTO_BYTES + 1])),
            ..ProfileChange::default()
        };
        assert!(matches!(
            store.set_user_profile("bob@a.test", &big),
            Err(StoreError::Invalid(_))
        ));
    }
}
