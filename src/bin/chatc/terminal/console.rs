//! The terminal's state, shared (behind one mutex) by the key thread, which feeds it key,
//! paste and resize events, and the loop, which prints lines above the input and sets the
//! status. Keys edit the line, browse or search the history, complete, or answer the paste
//! question; whole lines go to the loop as [`Input`]s, which the caller sends after unlocking
//! (sending may block, and the loop may be waiting for this lock to print).

use super::history_file::HistoryFile;
use super::painter::{InputView, Painter};
use super::{local_hour_minute, paths};
use crate::stdin_reader::Input;
use chatd::client::completion::{self, Completion, LetterCase, WordKind};
use chatd::client::editor::{LineEditor, paste_lines};
use chatd::client::history::History;
use chatd::client::render;
use chatd::client::roster::Roster;
use chatd::client::style::{NO_ROOM, Shown, Styled, prompt_for};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// A paste of more lines than this asks before sending them.
pub const PASTE_AT_ONCE: usize = 3;
/// Completion candidates listed at most; the rest are counted.
const CHOICES_SHOWN: usize = 40;

/// What the keys currently do.
enum Mode {
    Editing,
    /// Ctrl-R: typing narrows the search; `found` is the history index shown.
    Searching {
        query: String,
        found: Option<usize>,
    },
    /// A paste of many lines waits for y or n.
    ConfirmPaste {
        lines: Vec<String>,
    },
    /// `/password`: the new password is typed twice, shown as nothing and kept nowhere but
    /// here until both agree; Esc or Ctrl-C gives up.
    NewPassword {
        typed: String,
        /// The first entry, once Enter ended it.
        first: Option<String>,
    },
    /// End of input (Ctrl-D) was sent: only Ctrl-C still does something.
    Closed,
}

pub struct Console {
    pub painter: Painter,
    editor: LineEditor,
    history: History,
    history_file: Option<HistoryFile>,
    mode: Mode,
    pub roster: Roster,
    /// Where a plain line goes, shown in the prompt.
    target: String,
    /// A Tab on a shared file name waits for the FILES answer asked for quietly.
    completing_files: bool,
}

impl Console {
    pub fn new(painter: Painter, history: History, history_file: Option<HistoryFile>) -> Console {
        Console {
            painter,
            editor: LineEditor::new(),
            history,
            history_file,
            mode: Mode::Editing,
            roster: Roster::default(),
            target: NO_ROOM.to_string(),
            completing_files: false,
        }
    }

    /// What the input row shows in the current mode.
    pub fn view(&self) -> InputView {
        match &self.mode {
            Mode::Editing => InputView {
                prompt: prompt_for(&self.target),
                text: self.editor.text().to_string(),
                cursor: self.editor.cursor(),
            },
            Mode::Searching { query, found } => {
                let text = found
                    .and_then(|i| self.history.entries().nth(i))
                    .unwrap_or("")
                    .to_string();
                let cursor = text.find(query.as_str()).unwrap_or(0);
                InputView {
                    prompt: format!("(history search) '{query}': "),
                    text,
                    cursor,
                }
            }
            Mode::ConfirmPaste { lines } => InputView {
                prompt: format!("send {} pasted lines? [y/n] ", lines.len()),
                ..InputView::default()
            },
            Mode::NewPassword { first, .. } => InputView {
                prompt: match first {
                    None => "new password (not shown): ".into(),
                    Some(_) => "the new password again: ".into(),
                },
                ..InputView::default()
            },
            Mode::Closed => InputView::default(),
        }
    }

    /// `/password`: asks for the new password at the input row (unless the keys are busy
    /// with something else); it goes to the loop as [`Input::NewPassword`].
    pub fn ask_new_password(&mut self) {
        if matches!(self.mode, Mode::Editing) {
            self.mode = Mode::NewPassword {
                typed: String::new(),
                first: None,
            };
            self.redraw();
        }
    }

    /// Prints lines above the input (the loop's output), redrawing it below.
    pub fn print(&mut self, lines: &[Styled]) {
        let view = self.view();
        let _ = self.painter.print(lines, &view);
    }

    /// Shows `status` above the input row, or removes it; redraws only on a change.
    pub fn set_status(&mut self, status: Option<String>) {
        if self.painter.status() != status.as_deref() {
            self.painter.set_status(status);
            let view = self.view();
            let _ = self.painter.redraw(&view);
        }
    }

    /// Plain lines now go to `room` (None: no room), as the prompt shows.
    pub fn set_target(&mut self, room: Option<&str>) {
        let target = room.unwrap_or(NO_ROOM);
        if self.target != target {
            self.target = target.to_string();
            let view = self.view();
            let _ = self.painter.redraw(&view);
        }
    }

    /// The session ends: the input row is erased and keys do nothing more.
    pub fn close(&mut self) {
        self.mode = Mode::Closed;
        self.painter.set_status(None);
        let _ = self.painter.close();
    }

    /// The FILES answer asked for by a Tab arrived: complete now.
    pub fn files_listed(&mut self) {
        if std::mem::take(&mut self.completing_files) {
            let mut to_loop = Vec::new();
            self.complete(&mut to_loop);
            self.redraw();
        }
    }

    /// Handles one terminal event; returns what to send to the loop.
    pub fn handle_event(&mut self, event: Event) -> Vec<Input> {
        let mut to_loop = Vec::new();
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.key(key, &mut to_loop),
            Event::Paste(text) => self.paste(&text, &mut to_loop),
            Event::Resize(columns, _) => {
                let view = self.view();
                let _ = self.painter.resize(columns, &view);
                return to_loop;
            }
            _ => return to_loop,
        }
        self.redraw();
        to_loop
    }

    fn redraw(&mut self) {
        let view = self.view();
        let _ = self.painter.redraw(&view);
    }

    fn notice(&mut self, text: &str) {
        let (hour, minute) = local_hour_minute();
        let line = self.painter.styler.line(Shown::Notice(text), hour, minute);
        self.print(&[line]);
    }

    fn key(&mut self, key: KeyEvent, to_loop: &mut Vec<Input>) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') && !matches!(self.mode, Mode::Searching { .. }) {
            match self.mode {
                Mode::ConfirmPaste { .. } => return self.confirm_key(key, to_loop),
                Mode::NewPassword { .. } => return self.password_key(key, to_loop),
                _ => {}
            }
            to_loop.push(Input::Interrupt);
            return;
        }
        match self.mode {
            Mode::Editing => self.edit_key(key, to_loop),
            Mode::Searching { .. } => self.search_key(key, to_loop),
            Mode::ConfirmPaste { .. } => self.confirm_key(key, to_loop),
            Mode::NewPassword { .. } => self.password_key(key, to_loop),
            Mode::Closed => {}
        }
    }

    /// Keys while the new password is typed: characters, Backspace, Enter; Esc, Ctrl-C or
    /// Ctrl-G gives up. Nothing typed is shown or kept in the history.
    fn password_key(&mut self, key: KeyEvent, to_loop: &mut Vec<Input>) {
        let Mode::NewPassword { typed, first } = &mut self.mode else {
            return;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc | KeyCode::Char('c' | 'g') if ctrl || key.code == KeyCode::Esc => {
                self.mode = Mode::Editing;
                self.notice("*** password not changed");
            }
            KeyCode::Backspace => {
                typed.pop();
            }
            KeyCode::Enter => match first.take() {
                None if typed.is_empty() => {
                    self.mode = Mode::Editing;
                    self.notice("*** no password typed: password not changed");
                }
                None => *first = Some(std::mem::take(typed)),
                Some(first) => {
                    let again = std::mem::take(typed);
                    self.mode = Mode::Editing;
                    if first == again {
                        to_loop.push(Input::NewPassword(again));
                    } else {
                        self.notice("*** the two entries differ: password not changed");
                    }
                }
            },
            KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => {
                typed.push(c);
            }
            _ => {}
        }
    }

    /// The usual emacs-style keys, as readline binds them.
    fn edit_key(&mut self, key: KeyEvent, to_loop: &mut Vec<Input>) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let e = &mut self.editor;
        let edits_text = match key.code {
            KeyCode::Enter => return self.submit(to_loop),
            KeyCode::Char('j' | 'm') if ctrl => return self.submit(to_loop),
            KeyCode::Char('d') if ctrl && e.is_empty() => {
                self.mode = Mode::Closed;
                to_loop.push(Input::Eof);
                return;
            }
            KeyCode::Up | KeyCode::Char('p') if !alt && (ctrl || key.code == KeyCode::Up) => {
                if let Some(older) = self.history.older(self.editor.text()) {
                    let older = older.to_string();
                    self.editor.set(&older);
                }
                return;
            }
            KeyCode::Down | KeyCode::Char('n') if !alt && (ctrl || key.code == KeyCode::Down) => {
                if let Some(newer) = self.history.newer() {
                    self.editor.set(&newer);
                }
                return;
            }
            KeyCode::Char('r') if ctrl => {
                let found = self.history.search("", None).map(|(i, _)| i);
                let query = String::new();
                self.mode = Mode::Searching { query, found };
                return;
            }
            KeyCode::Tab => return self.complete(to_loop),
            KeyCode::Char('l') if ctrl => {
                let view = self.view();
                let _ = self.painter.clear_screen(&view);
                return;
            }
            KeyCode::Home => {
                e.move_home();
                false
            }
            KeyCode::Char('a') if ctrl => {
                e.move_home();
                false
            }
            KeyCode::End => {
                e.move_end();
                false
            }
            KeyCode::Char('e') if ctrl => {
                e.move_end();
                false
            }
            KeyCode::Left if ctrl || alt => {
                e.move_word_left();
                false
            }
            KeyCode::Right if ctrl || alt => {
                e.move_word_right();
                false
            }
            KeyCode::Char('b') if alt => {
                e.move_word_left();
                false
            }
            KeyCode::Char('f') if alt => {
                e.move_word_right();
                false
            }
            KeyCode::Left => {
                e.move_left();
                false
            }
            KeyCode::Char('b') if ctrl => {
                e.move_left();
                false
            }
            KeyCode::Right => {
                e.move_right();
                false
            }
            KeyCode::Char('f') if ctrl => {
                e.move_right();
                false
            }
            KeyCode::Backspace if alt => {
                e.kill_word_back();
                true
            }
            KeyCode::Char('w') if ctrl => {
                e.kill_word_back();
                true
            }
            KeyCode::Char('d') if alt => {
                e.kill_word_forward();
                true
            }
            KeyCode::Char('u') if ctrl => {
                e.kill_to_start();
                true
            }
            KeyCode::Char('k') if ctrl => {
                e.kill_to_end();
                true
            }
            KeyCode::Char('y') if ctrl => {
                e.yank();
                true
            }
            KeyCode::Backspace => {
                e.delete_back();
                true
            }
            KeyCode::Char('h') if ctrl => {
                e.delete_back();
                true
            }
            KeyCode::Delete => {
                e.delete_forward();
                true
            }
            KeyCode::Char('d') if ctrl => {
                e.delete_forward();
                true
            }
            KeyCode::Char(c) if !ctrl && !alt => {
                e.insert(c.encode_utf8(&mut [0; 4]));
                true
            }
            _ => false,
        };
        if edits_text {
            // An entry recalled and edited is a new line: Down no longer walks from it.
            self.history.stop_browsing();
        }
    }

    /// Ctrl-R mode: typing narrows, Ctrl-R goes further back, Enter sends the entry found,
    /// Esc or Ctrl-G gives the line back as it was, any other key takes the entry to edit.
    fn search_key(&mut self, key: KeyEvent, to_loop: &mut Vec<Input>) {
        let Mode::Searching { query, found } = &mut self.mode else {
            return;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('r') if ctrl => {
                if let Some((i, _)) = found.and_then(|f| self.history.search(query, Some(f))) {
                    *found = Some(i);
                }
            }
            KeyCode::Char('g' | 'c') if ctrl => self.mode = Mode::Editing,
            KeyCode::Esc => self.mode = Mode::Editing,
            KeyCode::Backspace => {
                query.pop();
                *found = self.history.search(query, None).map(|(i, _)| i);
            }
            KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => {
                query.push(c);
                *found = self.history.search(query, None).map(|(i, _)| i);
            }
            _ => {
                let took = found.is_some();
                let view = self.view();
                self.mode = Mode::Editing;
                if took {
                    self.editor.set(&view.text);
                }
                self.edit_key(key, to_loop);
            }
        }
    }

    fn confirm_key(&mut self, key: KeyEvent, to_loop: &mut Vec<Input>) {
        let yes = matches!(key.code, KeyCode::Char('y' | 'Y') | KeyCode::Enter);
        let no = matches!(
            key.code,
            KeyCode::Char('n' | 'N' | 'g' | 'c') | KeyCode::Esc
        );
        if !yes && !no {
            return;
        }
        let Mode::ConfirmPaste { lines } = std::mem::replace(&mut self.mode, Mode::Editing) else {
            return;
        };
        if yes {
            self.notice(&format!("*** sending {} pasted lines", lines.len()));
            for line in lines {
                self.send(line, to_loop);
            }
        } else {
            self.notice(&format!("*** {} pasted lines not sent", lines.len()));
        }
    }

    /// A bracketed paste: text without a line break is typed in; whole lines are sent, a few
    /// at once, more after a question; what follows the last break stays to be edited.
    fn paste(&mut self, text: &str, to_loop: &mut Vec<Input>) {
        if let Mode::NewPassword { typed, .. } = &mut self.mode {
            // From a password manager, say: its first line only, never shown.
            typed.push_str(text.lines().next().unwrap_or(""));
            return;
        }
        if !matches!(self.mode, Mode::Editing) {
            return;
        }
        let cursor = self.editor.cursor();
        let (lines, rest) = paste_lines(&self.editor.text()[..cursor], text);
        if lines.is_empty() {
            self.editor.insert(&rest);
            return;
        }
        let after = self.editor.text()[cursor..].to_string();
        self.editor.set_around_cursor(&rest, &after);
        if lines.len() <= PASTE_AT_ONCE {
            for line in lines {
                self.send(line, to_loop);
            }
        } else {
            self.mode = Mode::ConfirmPaste { lines };
        }
    }

    fn submit(&mut self, to_loop: &mut Vec<Input>) {
        let line = self.editor.take();
        self.send(line, to_loop);
    }

    /// Keeps `line` in the history (if the rule allows) and hands it to the loop.
    fn send(&mut self, line: String, to_loop: &mut Vec<Input>) {
        if self.history.add(line.clone())
            && let Some(file) = &mut self.history_file
            && let Err(e) = file.append(&line, &self.history)
        {
            let why = format!(
                "*** history not saved to {}: {e}",
                render::escape(&file.path().display().to_string())
            );
            self.history_file = None;
            self.notice(&why);
        }
        to_loop.push(Input::Line(line));
    }

    /// Tab: completes the word before the cursor, or lists the choices.
    fn complete(&mut self, to_loop: &mut Vec<Input>) {
        let cursor = self.editor.cursor();
        let before = &self.editor.text()[..cursor];
        let word = completion::word_at(before);
        let typed = before[word.start..].to_string();
        let nick_then = if word.start == 0 { ": " } else { " " };
        let completed = match word.kind {
            WordKind::Command => {
                completion::complete(&typed, completion::commands(), LetterCase::Ignore, " ")
            }
            WordKind::Nick => {
                let nicks = self.roster.nicks().map(str::to_string);
                completion::complete(&typed, nicks, LetterCase::Ignore, nick_then)
            }
            WordKind::Room => {
                let rooms = self.roster.rooms().map(str::to_string);
                completion::complete(&typed, rooms, LetterCase::Ignore, " ")
            }
            WordKind::SharedFile => match self.roster.files() {
                Some(files) => {
                    let files = files.map(str::to_string);
                    completion::complete(&typed, files, LetterCase::Exact, " ")
                }
                None => {
                    // Asked quietly; `files_listed` completes when the answer comes.
                    self.completing_files = true;
                    to_loop.push(Input::FetchFiles);
                    return;
                }
            },
            WordKind::LocalPath => {
                completion::complete(&typed, paths::candidates(&typed), LetterCase::Exact, " ")
            }
            WordKind::Nothing => return,
        };
        match completed {
            Completion::NoMatch => {}
            Completion::Replace(with) => self.editor.replace_before_cursor(word.start, &with),
            Completion::Choices(choices) => {
                let mut shown: Vec<String> = choices
                    .iter()
                    .take(CHOICES_SHOWN)
                    .map(|c| render::escape(c).into_owned())
                    .collect();
                if choices.len() > CHOICES_SHOWN {
                    shown.push(format!("(and {} more)", choices.len() - CHOICES_SHOWN));
                }
                self.notice(&shown.join("  "));
            }
        }
    }
}
