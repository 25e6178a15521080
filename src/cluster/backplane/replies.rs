//! Reading the scripts' replies into answers: history pages as the chat protocol states
//! them (HISTORY_END's `first`, `last`, `more`, `missed`), JOIN's and ROOMS' lists.

use super::PageQuery;
use crate::cluster::intent::{Answer, Page, StoredMessage};
use crate::cluster::resp::Value;
use crate::wire::Frame;

/// Every string of an array reply.
pub(super) fn strings(value: Value) -> Vec<Box<str>> {
    value
        .into_array()
        .unwrap_or_default()
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()?).ok().map(Into::into))
        .collect()
}

fn text(value: &Value) -> Option<Box<str>> {
    Some(std::str::from_utf8(value.as_bytes()?).ok()?.into())
}

pub(super) fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Integer(n) => u64::try_from(*n).ok(),
        other => std::str::from_utf8(other.as_bytes()?).ok()?.parse().ok(),
    }
}

/// A page read from the script's `{first, next, id, time, from, text, ...}`.
pub(super) struct ReadPage {
    pub(super) first: u64,
    pub(super) next: u64,
    pub(super) page: Page,
}

/// Reads a page as the chat protocol states it (see HISTORY_END): the entries are the
/// range's first `count + 1` (oldest first when `after` > 0, newest first otherwise), and
/// the page takes `count` of them within the byte budget (one at least).
pub(super) fn read_page(fields: &[Value], query: &PageQuery) -> Option<ReadPage> {
    let first = number(fields.first()?)?;
    let next = number(fields.get(1)?)?;
    let end = if query.before == 0 {
        next
    } else {
        query.before.min(next)
    };
    let lo = first.max(query.after.saturating_add(1));
    let missed = first.min(end).saturating_sub(query.after.saturating_add(1));
    let mut entries = Vec::new();
    for chunk in fields[2..].chunks(4) {
        let [id, time, from, body] = chunk else {
            return None;
        };
        entries.push(StoredMessage {
            id: number(id)?,
            time: number(time)?,
            from: text(from)?,
            text: text(body)?,
        });
    }
    let available = entries.len();
    let mut bytes = 0;
    let mut messages = Vec::new();
    for message in entries {
        let size = Frame::Message {
            room: &query.room,
            id: message.id,
            time: message.time,
            from: &message.from,
            text: &message.text,
        }
        .encoded_len();
        if messages.len() >= usize::from(query.count)
            || (!messages.is_empty() && bytes + size > query.budget)
        {
            break;
        }
        bytes += size;
        messages.push(message);
    }
    let more = if messages.is_empty() {
        lo < end
    } else {
        messages.len() < available
    };
    if query.after == 0 {
        messages.reverse();
    }
    Some(ReadPage {
        first,
        next,
        page: Page {
            messages,
            more,
            missed,
        },
    })
}

/// JOIN's `{topic, members, first, next, entries...}`.
pub(super) fn read_joined(value: Value, query: &PageQuery) -> Option<Answer> {
    let fields = value.into_array()?;
    let topic = text(fields.first()?)?;
    let members = u32::try_from(number(fields.get(1)?)?).ok()?;
    let read = read_page(&fields[2..], query)?;
    let (first, last) = if read.next <= 1 {
        (0, 0)
    } else if read.first >= read.next {
        (0, read.next - 1)
    } else {
        (read.first, read.next - 1)
    };
    Some(Answer::Joined {
        topic,
        members,
        first,
        last,
        page: read.page,
    })
}

/// ROOMS' `{more, name, members, topic, ...}`.
pub(super) fn read_rooms(value: Value) -> Option<Answer> {
    let fields = value.into_array()?;
    let more = number(fields.first()?)? == 1;
    let mut rooms = Vec::new();
    for chunk in fields[1..].chunks(3) {
        let [name, members, topic] = chunk else {
            return None;
        };
        rooms.push((
            text(name)?,
            u32::try_from(number(members)?).ok()?,
            text(topic)?,
        ));
    }
    Some(Answer::Rooms { rooms, more })
}
