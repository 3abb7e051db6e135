//! SmartReply (MS-ASCMD 2.2.1.20): replies to a message in the user's mailbox, quoting it
//! unless the client sent ReplaceMime; the original's LastVerbExecuted becomes reply to
//! sender (or reply to all). The work is shared with the other compose commands in
//! [`super::compose`].

use super::compose::{self, Compose};
use super::{CommandError, Reply, Request};

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    compose::handle(request, Compose::Reply)
}
