//! SendMail (MS-ASCMD 2.2.1.17): sends a new message. The work is shared with SmartReply and
//! SmartForward in [`super::compose`].

use super::compose::{self, Compose};
use super::{CommandError, Reply, Request};

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    compose::handle(request, Compose::Send)
}
