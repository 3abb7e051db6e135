//! The Picture option shared by Search (Store=GAL) and ResolveRecipients (14.1+): MaxSize caps
//! the bytes of one photo, MaxPictures the number of photos in one answer, and each person's
//! Picture carries one of the statuses of MS-ASCMD 2.2.3.177.13 / 2.2.3.177.11.

/// Picture statuses.
pub mod status {
    pub const SUCCESS: &str = "1";
    /// The person has no photo.
    pub const NO_PHOTO: &str = "173";
    /// The photo is larger than MaxSize.
    pub const TOO_LARGE: &str = "174";
    /// MaxPictures photos were already sent in this answer.
    pub const LIMIT_REACHED: &str = "175";
}

/// What the client asked for and how much of it was already sent.
#[derive(Clone, Debug)]
pub struct PictureBudget {
    max_size: Option<usize>,
    max_pictures: Option<usize>,
    sent: usize,
}

impl PictureBudget {
    /// From the texts of MaxSize and MaxPictures (absent or unreadable: no limit).
    pub fn new(max_size: Option<String>, max_pictures: Option<String>) -> PictureBudget {
        PictureBudget {
            max_size: max_size.and_then(|t| t.trim().parse().ok()),
            max_pictures: max_pictures.and_then(|t| t.trim().parse().ok()),
            sent: 0,
        }
    }

    /// The status for this person's photo and, on success, the bytes to send.
    pub fn take<'a>(&mut self, photo: Option<&'a [u8]>) -> (&'static str, Option<&'a [u8]>) {
        let Some(photo) = photo else {
            return (status::NO_PHOTO, None);
        };
        if self.max_size.is_some_and(|max| photo.len() > max) {
            return (status::TOO_LARGE, None);
        }
        if self.max_pictures.is_some_and(|max| self.sent >= max) {
            return (status::LIMIT_REACHED, None);
        }
        self.sent += 1;
        (status::SUCCESS, Some(photo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_size_and_count_limits() {
        let mut budget = PictureBudget::new(Some("4".into()), Some("1".into()));
        assert_eq!(budget.take(None).0, status::NO_PHOTO);
        assert_eq!(budget.take(Some(&[1, 2, 3, 4, 5])).0, status::TOO_LARGE);
        assert_eq!(
            budget.take(Some(&[1, 2])),
            (status::SUCCESS, Some(&[1u8, 2][..]))
        );
        assert_eq!(budget.take(Some(&[1])).0, status::LIMIT_REACHED);
    }
}
