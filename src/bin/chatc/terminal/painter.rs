//! Drawing at the bottom of the terminal: an optional status row (transfers' progress) and the
//! input row (prompt and the typed line, scrolled sideways to keep the cursor in view). Lines
//! printed go above them: the area is erased, the lines written, the area drawn again, so a
//! half-typed line is never mixed into what arrives. Each row is kept narrower than the
//! terminal, so the area is always exactly one or two rows and the cursor is on the last.

use chatd::client::style::{Styled, Styler};
use std::io::{self, Write};
use unicode_width::UnicodeWidthChar;

/// What the input row shows: a prompt (plain text, styled when drawn) and a line with its
/// cursor (a byte offset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputView {
    pub prompt: String,
    pub text: String,
    pub cursor: usize,
}

/// Whether a line that calls for attention rings the terminal bell (`--no-bell`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bell {
    On,
    Off,
}

pub struct Painter {
    pub styler: Styler,
    bell: Bell,
    /// Terminal width in columns.
    width: usize,
    status: Option<String>,
    /// The status row is on screen (above the input row).
    status_drawn: bool,
    /// Where the cursor sits on the input row, for the redraw after a resize.
    cursor_column: usize,
    /// The first char of the typed line that is shown (sideways scrolling).
    scroll: usize,
}

impl Painter {
    pub fn new(styler: Styler, bell: Bell, width: u16) -> Painter {
        Painter {
            styler,
            bell,
            width: usize::from(width.max(1)),
            status: None,
            status_drawn: false,
            cursor_column: 0,
            scroll: 0,
        }
    }

    /// Prints `lines` above the area and redraws it.
    pub fn print(&mut self, lines: &[Styled], view: &InputView) -> io::Result<()> {
        let mut out = Vec::with_capacity(256);
        self.erase(&mut out);
        for line in lines {
            out.extend_from_slice(line.text.as_bytes());
            // Raw mode: a line feed does not return the carriage (termios OPOST is off).
            out.extend_from_slice(b"\x1b[K\r\n");
        }
        if self.bell == Bell::On && lines.iter().any(|l| l.alert) {
            out.push(0x07);
        }
        self.draw(&mut out, view);
        write_out(&out)
    }

    /// Redraws the area (the typed line or the status changed).
    pub fn redraw(&mut self, view: &InputView) -> io::Result<()> {
        let mut out = Vec::with_capacity(128);
        self.erase(&mut out);
        self.draw(&mut out, view);
        write_out(&out)
    }

    /// Sets or clears the status row; the caller redraws.
    pub fn set_status(&mut self, status: Option<String>) {
        self.status = status;
    }

    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// The terminal is now `width` columns wide: erase what was drawn (it may have been
    /// rewrapped by the terminal) and draw again at the new width.
    pub fn resize(&mut self, width: u16, view: &InputView) -> io::Result<()> {
        let new = usize::from(width.max(1));
        let mut out = Vec::new();
        if new < self.width {
            // A terminal that rewraps long rows on shrinking puts the cursor's row lower:
            // climb the extra rows the input row (up to the cursor) and the status now take.
            let mut up = self.cursor_column / new;
            if self.status_drawn {
                up += self.width.saturating_sub(1).div_ceil(new).saturating_sub(1);
            }
            if up > 0 {
                out.extend_from_slice(format!("\x1b[{up}A").as_bytes());
            }
        }
        self.width = new;
        self.erase(&mut out);
        self.draw(&mut out, view);
        write_out(&out)
    }

    /// Ctrl-L: clears the screen and draws the area at the top.
    pub fn clear_screen(&mut self, view: &InputView) -> io::Result<()> {
        let mut out = b"\x1b[H\x1b[2J".to_vec();
        self.status_drawn = false;
        self.draw(&mut out, view);
        write_out(&out)
    }

    /// Erases the area for good (the session ends): the cursor is left at the start of an
    /// empty row.
    pub fn close(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        self.erase(&mut out);
        write_out(&out)
    }

    fn erase(&mut self, out: &mut Vec<u8>) {
        out.push(b'\r');
        if std::mem::take(&mut self.status_drawn) {
            out.extend_from_slice(b"\x1b[A");
        }
        out.extend_from_slice(b"\x1b[J");
    }

    fn draw(&mut self, out: &mut Vec<u8>, view: &InputView) {
        // One column is left free: writing the last one would wrap on some terminals.
        let usable = self.width.saturating_sub(1).max(1);
        if let Some(status) = &self.status {
            let (shown, _) = fit(status, usable);
            out.extend_from_slice(self.styler.status(shown).as_bytes());
            out.extend_from_slice(b"\r\n");
            self.status_drawn = true;
        }
        let (prompt, prompt_width) = fit(&view.prompt, usable.saturating_sub(8).max(1));
        out.extend_from_slice(self.styler.prompt(prompt).as_bytes());
        let room = usable.saturating_sub(prompt_width).max(1);
        let chars: Vec<char> = view.text.chars().collect();
        let cursor = view.text[..view.cursor.min(view.text.len())]
            .chars()
            .count();
        self.scroll = scroll_for(&chars, cursor, self.scroll, room);
        let mut used = 0;
        let mut cursor_width = 0;
        for (i, &c) in chars.iter().enumerate().skip(self.scroll) {
            let w = c.width().unwrap_or(0);
            if used + w > room {
                break;
            }
            if i < cursor {
                cursor_width += w;
            }
            used += w;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        self.cursor_column = prompt_width + cursor_width;
        out.push(b'\r');
        if self.cursor_column > 0 {
            out.extend_from_slice(format!("\x1b[{}C", self.cursor_column).as_bytes());
        }
    }
}

/// `text` cut to at most `columns` display columns, with its width.
fn fit(text: &str, columns: usize) -> (&str, usize) {
    let mut width = 0;
    for (i, c) in text.char_indices() {
        let w = c.width().unwrap_or(0);
        if width + w > columns {
            return (&text[..i], width);
        }
        width += w;
    }
    (text, width)
}

/// The first char to show so that the cursor (a char index) stays within `room` columns,
/// moving the previous scroll as little as possible.
fn scroll_for(chars: &[char], cursor: usize, previous: usize, room: usize) -> usize {
    let width = |from: usize, to: usize| -> usize {
        chars[from..to].iter().map(|c| c.width().unwrap_or(0)).sum()
    };
    let mut scroll = previous.min(cursor);
    // Keep one column for the cursor itself after the last char.
    while scroll < cursor && width(scroll, cursor) + 1 > room {
        scroll += 1;
    }
    scroll
}

fn write_out(bytes: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_cuts_at_the_display_width() {
        assert_eq!(fit("hello", 3), ("hel", 3));
        assert_eq!(fit("日本語", 5), ("日本", 4));
        assert_eq!(fit("ok", 10), ("ok", 2));
    }

    #[test]
    fn scrolling_keeps_the_cursor_in_view_and_moves_little() {
        let chars: Vec<char> = "abcdefghij".chars().collect();
        assert_eq!(scroll_for(&chars, 10, 0, 5), 6);
        assert_eq!(scroll_for(&chars, 8, 6, 5), 6);
        assert_eq!(scroll_for(&chars, 2, 6, 5), 2);
        assert_eq!(scroll_for(&chars, 3, 0, 20), 0);
    }
}
