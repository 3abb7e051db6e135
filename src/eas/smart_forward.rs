//! SmartForward (MS-ASCMD 2.2.1.19): forwards a message in the user's mailbox, the original
//! attached (with all its attachments) unless the client sent ReplaceMime; the original's
//! LastVerbExecuted becomes forward. The work is shared with the other compose commands in
//! [`super::compose`].

use super::compose::{self, Compose};
use super::{CommandError, Reply, Request};

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    compose::handle(request, Compose::Forward)
}
