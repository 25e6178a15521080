//! A lost connection made again: when the connection ends without QUIT (EOF or an error, not
//! after a closing ERROR or SHUTDOWN, not while quitting), chatc waits as the backoff says,
//! connects, logs in with the same nickname and rejoins its rooms; the rooms machine recovers
//! what was missed. A nickname still held by the lost session is retried like a failed
//! connect: the server frees it once it notices that session is gone.

use super::{Exit, Phase, Session, connect, register};
use chatd::client::render;
use std::io;
use std::time::Instant;

impl Session {
    /// The connection is gone (`why`): reconnect if allowed, else the exit.
    pub(super) fn lost(&mut self, registry: &mio::Registry, why: &str) -> io::Result<Option<Exit>> {
        if let Some(reason) = &self.shutdown_reason {
            let reason = format!("server shut down: {}", render::escape(reason));
            return Ok(Some(Exit::Failed(reason)));
        }
        let why = format!("connection lost: {why}");
        if matches!(self.phase, Phase::Quitting { .. }) || self.backoff.max_tries() == 0 {
            return Ok(Some(Exit::Failed(why)));
        }
        self.disconnect(registry);
        Ok(self.schedule_retry(&why))
    }

    /// Drops the connection and everything that belonged to it: bytes queued either way
    /// (whether the server took them cannot be known), lists being gathered, answers owed.
    pub(super) fn disconnect(&mut self, registry: &mio::Registry) {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(&mut stream.inner.sock);
        }
        self.out.clear();
        self.input.clear();
        // Its answer is lost with the connection (the next login uses the old password).
        self.password_sent = None;
        self.who.clear();
        self.files.clear();
        self.room_list.clear();
        self.names.clear();
        self.quiet_who = 0;
        self.quiet_files = 0;
        self.rooms.connection_lost();
        self.show_room_events();
    }

    /// Waits for the next try, saying so, or gives up when the tries are used.
    pub(super) fn schedule_retry(&mut self, why: &str) -> Option<Exit> {
        let mut bytes = [0u8; 4];
        // Without the OS's randomness the wait is simply not jittered.
        let random = match getrandom::fill(&mut bytes) {
            Ok(()) => f64::from(u32::from_ne_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
            Err(_) => 0.5,
        };
        let Some(delay) = self.backoff.next_delay(random) else {
            let tries = self.backoff.max_tries();
            return Some(Exit::Failed(format!("{why}; gave up after {tries} tries")));
        };
        self.screen.say(&format!(
            "*** {why}; reconnecting in {:.1} s (try {} of {})",
            delay.as_secs_f64(),
            self.backoff.tries(),
            self.backoff.max_tries()
        ));
        self.phase = Phase::Reconnecting {
            at: Instant::now() + delay,
        };
        None
    }

    /// A try is due: connect (blocking, for at most the connect timeout) and log in again.
    pub(super) fn try_reconnect(&mut self, registry: &mio::Registry) -> io::Result<Option<Exit>> {
        match connect(&self.host, self.port) {
            Err(why) => Ok(self.schedule_retry(&why)),
            Ok(std_stream) => {
                let link = register(std_stream, registry, &self.host, self.port, &self.security)?;
                self.stream = Some(link);
                self.stream_readable = true;
                self.relogin = true;
                self.phase = Phase::LoggingIn;
                self.queue_login();
                Ok(None)
            }
        }
    }
}
