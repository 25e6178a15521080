//! What the rooms machine asks for and says: its requests become frames (sent only while
//! logged in; a reconnect asks again), its events lines on screen. Own messages come back as
//! the server's echo: at a terminal that echo is how the typed line is shown (once, with its
//! room and time, in the order everyone sees); a script's own lines are not printed.

use super::{Phase, Session};
use crate::screen::local_hour_minute_of;
use chatd::client::render;
use chatd::client::rooms::{Request, RoomEvent};
use chatd::client::style::Shown;
use chatd::wire::Frame;

impl Session {
    /// Sends the rooms' requests and shows their events.
    pub(super) fn show_room_events(&mut self) {
        while self.phase == Phase::Chatting
            && let Some(request) = self.rooms.poll_request()
        {
            match request {
                Request::Join { room, after, count } => self.queue(&Frame::Join {
                    room: &room,
                    after,
                    count,
                }),
                Request::History {
                    room,
                    after,
                    before,
                    count,
                } => self.queue(&Frame::History {
                    room: &room,
                    after,
                    before,
                    count,
                }),
            }
        }
        while let Some(event) = self.rooms.poll_event() {
            self.show_room_event(event);
        }
    }

    fn show_room_event(&mut self, event: RoomEvent) {
        match event {
            RoomEvent::Message(m) => {
                if m.from.eq_ignore_ascii_case(&self.nick) && !self.screen.is_terminal() {
                    return;
                }
                let (hour, minute) = local_hour_minute_of(m.time_ms);
                self.screen.show(Shown::Message {
                    room: &m.room,
                    hour,
                    minute,
                    from: &m.from,
                    text: &m.text,
                });
            }
            RoomEvent::Joined {
                room,
                topic,
                members,
            } => {
                if let Some(mut console) = self.screen.console() {
                    console.roster.room(&room);
                }
                self.screen.say(&render::entered(&room, members, &topic));
            }
            RoomEvent::JoinRefused { room } => {
                self.screen
                    .say(&format!("*** not joined {}", render::escape(&room)));
            }
            RoomEvent::Parted { room } => {
                self.screen
                    .say(&format!("*** left {}", render::escape(&room)));
            }
            RoomEvent::Current(room) => {
                if let Some(mut console) = self.screen.console() {
                    console.set_target(room.as_deref());
                }
            }
            RoomEvent::Lost { room, missed } => self.screen.say(&render::lost(&room, missed)),
            RoomEvent::Reset { room } => self.screen.say(&format!(
                "*** {} was made again on the server: its messages start anew",
                render::escape(&room)
            )),
            RoomEvent::Recovered { room, shown } => self.screen.say(&format!(
                "*** {}: {shown} missed message(s) recovered",
                render::escape(&room)
            )),
            RoomEvent::AllRecovered { rooms, shown, lost } => {
                let lost = if lost > 0 {
                    format!(", {lost} lost")
                } else {
                    String::new()
                };
                self.screen.say(&format!(
                    "*** recovery complete: {rooms} room(s), {shown} message(s) recovered{lost}"
                ));
            }
            RoomEvent::Older { room, count: 0 } => self.screen.say(&format!(
                "*** no older messages in {}",
                render::escape(&room)
            )),
            RoomEvent::Older { room, count } => self.screen.say(&format!(
                "*** {count} older message(s) in {}:",
                render::escape(&room)
            )),
        }
    }
}
