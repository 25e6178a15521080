//! The line being typed at a terminal: its text, the cursor, and the editing actions the usual
//! keys map to (emacs style, as in readline). Which key does what is the shell's; drawing it too.

use super::render::is_unsafe;

/// The text being edited and where the cursor is (a byte offset at a char boundary).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LineEditor {
    text: String,
    cursor: usize,
    /// What the last Ctrl-W/U/K or Alt-D removed, for Ctrl-Y.
    killed: String,
}

impl LineEditor {
    pub fn new() -> LineEditor {
        LineEditor::default()
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor as a byte offset into [`LineEditor::text`].
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Replaces the whole text (a history entry, a completion) with the cursor at its end.
    pub fn set(&mut self, text: &str) {
        self.text.clear();
        self.cursor = 0;
        self.insert(text);
    }

    /// Replaces the whole text by `before` and `after` with the cursor between them (the
    /// rest of a paste, what followed the cursor).
    pub fn set_around_cursor(&mut self, before: &str, after: &str) {
        self.set(before);
        let cursor = self.cursor;
        self.insert(after);
        self.cursor = cursor;
    }

    /// Replaces the text from byte `start` to the cursor by `with` (a completion), leaving the
    /// cursor after it. `start` must be a char boundary at or before the cursor.
    pub fn replace_before_cursor(&mut self, start: usize, with: &str) {
        let start = start.min(self.cursor);
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
        self.insert(with);
    }

    /// Takes the text out, leaving an empty line (Enter).
    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    /// Inserts at the cursor, dropping what must not reach the terminal (controls, format
    /// characters): the line is drawn as typed, so it is kept as safe as what others send.
    pub fn insert(&mut self, text: &str) {
        let clean: String = text.chars().filter(|&c| !is_unsafe(c)).collect();
        self.text.insert_str(self.cursor, &clean);
        self.cursor += clean.len();
    }

    pub fn move_left(&mut self) {
        self.cursor = self.prev_char(self.cursor);
    }

    pub fn move_right(&mut self) {
        self.cursor = self.next_char(self.cursor);
    }

    pub fn move_home(&mut self) {
        self.cursor = 0;
    }

    pub fn move_end(&mut self) {
        self.cursor = self.text.len();
    }

    /// To the start of this or the previous word (Alt-B, Ctrl-Left).
    pub fn move_word_left(&mut self) {
        self.cursor = self.word_start_before(self.cursor);
    }

    /// To the end of this or the next word (Alt-F, Ctrl-Right).
    pub fn move_word_right(&mut self) {
        self.cursor = self.word_end_after(self.cursor);
    }

    /// Backspace.
    pub fn delete_back(&mut self) {
        let from = self.prev_char(self.cursor);
        self.text.replace_range(from..self.cursor, "");
        self.cursor = from;
    }

    /// Delete, and Ctrl-D on a line that is not empty.
    pub fn delete_forward(&mut self) {
        let to = self.next_char(self.cursor);
        self.text.replace_range(self.cursor..to, "");
    }

    /// Ctrl-W: the whitespace-separated word before the cursor.
    pub fn kill_word_back(&mut self) {
        let mut from = self.cursor;
        while from > 0 && self.char_before(from).is_some_and(char::is_whitespace) {
            from = self.prev_char(from);
        }
        while from > 0 && self.char_before(from).is_some_and(|c| !c.is_whitespace()) {
            from = self.prev_char(from);
        }
        self.kill(from, self.cursor);
    }

    /// Alt-D: to the end of the word after the cursor.
    pub fn kill_word_forward(&mut self) {
        let to = self.word_end_after(self.cursor);
        self.kill(self.cursor, to);
    }

    /// Ctrl-U: everything before the cursor.
    pub fn kill_to_start(&mut self) {
        self.kill(0, self.cursor);
    }

    /// Ctrl-K: everything from the cursor on.
    pub fn kill_to_end(&mut self) {
        self.kill(self.cursor, self.text.len());
    }

    /// Ctrl-Y: puts back what was last killed.
    pub fn yank(&mut self) {
        let killed = self.killed.clone();
        self.insert(&killed);
    }

    fn kill(&mut self, from: usize, to: usize) {
        if from < to {
            self.killed = self.text[from..to].to_string();
            self.text.replace_range(from..to, "");
            self.cursor = from;
        }
    }

    fn char_before(&self, at: usize) -> Option<char> {
        self.text[..at].chars().next_back()
    }

    fn prev_char(&self, at: usize) -> usize {
        self.char_before(at).map_or(0, |c| at - c.len_utf8())
    }

    fn next_char(&self, at: usize) -> usize {
        self.text[at..]
            .chars()
            .next()
            .map_or(self.text.len(), |c| at + c.len_utf8())
    }

    /// Words are runs of letters and digits, as readline's Alt-B/F see them.
    fn word_start_before(&self, mut at: usize) -> usize {
        while at > 0 && self.char_before(at).is_some_and(|c| !c.is_alphanumeric()) {
            at = self.prev_char(at);
        }
        while at > 0 && self.char_before(at).is_some_and(char::is_alphanumeric) {
            at = self.prev_char(at);
        }
        at
    }

    fn word_end_after(&self, mut at: usize) -> usize {
        let char_at = |at: usize| self.text[at..].chars().next();
        while at < self.text.len() && char_at(at).is_some_and(|c| !c.is_alphanumeric()) {
            at = self.next_char(at);
        }
        while at < self.text.len() && char_at(at).is_some_and(char::is_alphanumeric) {
            at = self.next_char(at);
        }
        at
    }
}

/// Splits pasted text into the whole lines it holds (each ended by a line break, the text
/// before the cursor prefixed to the first) and what follows the last break, which stays in
/// the editor to go on typing. Tabs become spaces; CR LF and lone CR end lines too.
pub fn paste_lines(before_cursor: &str, pasted: &str) -> (Vec<String>, String) {
    let pasted = pasted
        .replace("\r\n", "\n")
        .replace(['\r'], "\n")
        .replace('\t', " ");
    let mut parts: Vec<&str> = pasted.split('\n').collect();
    let rest = parts.pop().unwrap_or_default().to_string();
    let mut lines: Vec<String> = parts.into_iter().map(str::to_string).collect();
    if let Some(first) = lines.first_mut() {
        first.insert_str(0, before_cursor);
    }
    (lines, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paste_splits_into_whole_lines_and_a_rest() {
        assert_eq!(paste_lines("", "one"), (vec![], "one".to_string()));
        assert_eq!(
            paste_lines("> ", "one\r\ntwo\rthree\nfo\tur"),
            (strings(&["> one", "two", "three"]), "fo ur".to_string())
        );
        assert_eq!(paste_lines("", "a\n"), (strings(&["a"]), String::new()));
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// An editor holding `text` with the cursor where `|` is.
    fn editor(marked: &str) -> LineEditor {
        let cursor = marked.find('|').expect("a | marks the cursor");
        let mut e = LineEditor::new();
        e.set(&marked.replace('|', ""));
        e.cursor = cursor;
        e
    }

    #[track_caller]
    fn check(e: &LineEditor, marked: &str) {
        let mut shown = e.text.clone();
        shown.insert(e.cursor, '|');
        assert_eq!(shown, marked);
    }

    #[test]
    fn typing_inserts_at_the_cursor() {
        let mut e = editor("helo| world");
        e.move_left();
        e.insert("l");
        check(&e, "hell|o world");
        e.insert("✓é");
        check(&e, "hell✓é|o world");
    }

    #[test]
    fn controls_and_format_characters_are_never_inserted() {
        let mut e = LineEditor::new();
        e.insert("a\x1b[31mb\u{200b}c\u{202e}\n");
        check(&e, "a[31mbc|");
    }

    #[test]
    fn moves_by_char_home_end_and_word() {
        let mut e = editor("one tw|o  three");
        e.move_word_left();
        check(&e, "one |two  three");
        e.move_word_left();
        check(&e, "|one two  three");
        e.move_word_left();
        check(&e, "|one two  three");
        e.move_word_right();
        check(&e, "one| two  three");
        e.move_word_right();
        e.move_word_right();
        check(&e, "one two  three|");
        e.move_right();
        check(&e, "one two  three|");
        e.move_home();
        e.move_left();
        check(&e, "|one two  three");
        e.move_right();
        check(&e, "o|ne two  three");
        e.move_end();
        check(&e, "one two  three|");
    }

    #[test]
    fn deletes_by_char_across_multibyte_text() {
        let mut e = editor("aé|✓b");
        e.delete_back();
        check(&e, "a|✓b");
        e.delete_forward();
        check(&e, "a|b");
        e.move_home();
        e.delete_back();
        check(&e, "|ab");
        e.move_end();
        e.delete_forward();
        check(&e, "ab|");
    }

    #[test]
    fn kills_and_yank() {
        let mut e = editor("/msg bob hi the|re");
        e.kill_word_back();
        check(&e, "/msg bob hi |re");
        e.kill_to_end();
        check(&e, "/msg bob hi |");
        e.kill_word_back();
        check(&e, "/msg bob |");
        e.yank();
        check(&e, "/msg bob hi |");
        e.kill_to_start();
        check(&e, "|");
        e.yank();
        check(&e, "/msg bob hi |");
        let mut e = editor("a| big-word x");
        e.kill_word_forward();
        check(&e, "a|-word x");
    }

    #[test]
    fn completions_replace_the_word_before_the_cursor() {
        let mut e = editor("/msg ca| hi");
        e.replace_before_cursor(5, "carol ");
        check(&e, "/msg carol | hi");
        e.set_around_cursor("rest", " after");
        check(&e, "rest| after");
    }

    #[test]
    fn take_empties_and_set_puts_the_cursor_at_the_end() {
        let mut e = editor("he|llo");
        assert_eq!(e.take(), "hello");
        check(&e, "|");
        e.set("again");
        check(&e, "again|");
    }
}
