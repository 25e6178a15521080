//! chatc at a terminal (issue 19): the real binaries, chatc in a pseudo-terminal whose screen a
//! terminal emulator keeps, so each test asserts what a person would see.

mod support;

use support::pty::{COLUMNS, PtyChatc};
use support::{Chatc, Daemon, temp_dir};

const UP: &str = "\x1b[A";
const CTRL_C: &str = "\x03";
const CTRL_R: &str = "\x12";
const CTRL_U: &str = "\x15";

/// bob at a terminal, logged in, with no history file unless `extra` names one.
fn bob_at_a_terminal(daemon: &Daemon, extra: &[&str], env: &[(&str, &str)]) -> PtyChatc {
    let cwd = temp_dir("pty-cwd");
    let mut args = vec!["--history", ""];
    if extra.contains(&"--history") {
        args.clear();
    }
    args.extend_from_slice(extra);
    let mut bob = PtyChatc::start(daemon.port, "bob", &cwd, &args, env);
    bob.wait_for_row("logged in as bob");
    bob.wait_for_input("#lobby> ");
    bob
}

#[test]
fn issue_19_a_message_while_typing_goes_above_the_half_typed_line() {
    let daemon = Daemon::start(&[]);
    let mut alice = Chatc::logged_in(&daemon, "alice");
    let mut bob = bob_at_a_terminal(&daemon, &[], &[]);
    bob.type_text("half typed line");
    bob.wait_for_input("#lobby> half typed line");

    alice.line("message while bob types");
    bob.wait_for_row("<alice> message while bob types");
    let rows = bob.rows();
    let message = rows
        .iter()
        .position(|r| r.contains("<alice> message"))
        .unwrap();
    let (cursor_row, _) = bob.parser.screen().cursor_position();
    assert!(!rows[message].contains("half typed"), "{rows:#?}");
    assert!(rows[message].starts_with('[') && rows[message].contains("] <alice>"));
    assert!(message < usize::from(cursor_row), "{rows:#?}");
    bob.wait_for_input("#lobby> half typed line");

    // The line is intact where it was: typing on and Enter send all of it.
    bob.type_text(" and more\r");
    alice.out.expect_contains("<bob> half typed line and more");
    bob.wait_for_row("<bob> half typed line and more");
    bob.wait_for_input("#lobby> ");
}

#[test]
fn up_recalls_history_and_ctrl_r_searches_it_across_a_restart_without_secrets() {
    let daemon = Daemon::start(&[]);
    let alice = Chatc::logged_in(&daemon, "alice");
    let dir = temp_dir("history");
    let history = dir.join("state/history");
    let history_arg = history.to_str().unwrap();
    let mut bob = bob_at_a_terminal(&daemon, &["--history", history_arg], &[]);
    bob.type_text("first line\r");
    alice.out.expect_contains("<bob> first line");
    bob.type_text("second line\r");
    alice.out.expect_contains("<bob> second line");
    bob.type_text("/register bob hunter2\r");
    bob.wait_for_row("usage: /register");
    bob.type_text(UP);
    bob.wait_for_input("#lobby> second line");
    bob.type_text(UP);
    bob.wait_for_input("#lobby> first line");
    bob.type_text(CTRL_U);
    bob.type_text("/quit\r");
    assert!(bob.wait_exit().success());

    let saved = std::fs::read_to_string(&history).unwrap();
    assert_eq!(saved, "first line\nsecond line\n/quit\n");
    let mut bob = bob_at_a_terminal(&daemon, &["--history", history_arg], &[]);
    bob.type_text(UP);
    bob.wait_for_input("#lobby> /quit");
    bob.type_text(UP);
    bob.wait_for_input("#lobby> second line");
    bob.type_text(CTRL_U);
    bob.type_text(CTRL_R);
    bob.type_text("firs");
    bob.wait_screen("the search showing the match", |p| {
        p.cursor_row() == "(history search) 'firs': first line"
    });
    bob.type_text("\r");
    alice.out.expect_contains("<bob> first line");
    drop(bob);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn tab_completes_a_nickname_and_a_shared_file_name() {
    let daemon = Daemon::start(&[]);
    std::fs::write(daemon.files.join("notes-2024.txt"), "hello").unwrap();
    let mut bob = bob_at_a_terminal(&daemon, &[], &[]);
    let _carol = Chatc::logged_in(&daemon, "carol");
    bob.wait_for_row("*** carol joined");
    bob.type_text("/msg ca\t");
    bob.wait_for_input("#lobby> /msg carol ");
    bob.type_text(CTRL_U);
    // No listing yet: the Tab asks the server quietly and completes when it answers.
    bob.type_text("/get no\t");
    bob.wait_for_input("#lobby> /get notes-2024.txt ");
    let rows = bob.rows();
    assert!(!rows.iter().any(|r| r.contains("shared file")), "{rows:#?}");
    assert!(!rows.iter().any(|r| r.contains("online:")), "{rows:#?}");
}

#[test]
fn download_progress_stays_in_the_status_row_and_leaves_the_input_intact() {
    // The cap makes the 1 MiB download last about 4 s: time to see the status row.
    let daemon = Daemon::start(&["--max-rate", "256K"]);
    std::fs::write(daemon.files.join("big.bin"), vec![7u8; 1 << 20]).unwrap();
    let downloads = temp_dir("pty-downloads");
    let mut bob = bob_at_a_terminal(&daemon, &["--downloads", downloads.to_str().unwrap()], &[]);
    bob.type_text("/get big.bin\r");
    bob.type_text("typing during download");
    bob.wait_screen("progress in a status row above the intact input", |p| {
        let rows = p.rows();
        let (cursor, _) = p.parser.screen().cursor_position();
        let cursor = usize::from(cursor);
        cursor > 0
            && rows[cursor - 1].starts_with("... [1] big.bin: ")
            && rows[cursor - 1].contains("ETA")
            && rows[cursor] == "#lobby> typing during download"
    });
    bob.wait_for_row("big.bin: done");
    bob.wait_screen("the status row gone, the input intact", |p| {
        !p.rows().iter().any(|r| r.contains("ETA"))
            && p.cursor_row() == "#lobby> typing during download"
    });
    let progress_rows = bob.rows().iter().filter(|r| r.starts_with("... [")).count();
    assert_eq!(
        progress_rows,
        0,
        "progress left on screen: {:#?}",
        bob.rows()
    );
    std::fs::remove_dir_all(downloads).unwrap();
}

/// True if any cell of the screen has a colour or an attribute.
fn any_styled_cell(p: &PtyChatc) -> bool {
    let screen = p.parser.screen();
    let (rows, columns) = screen.size();
    (0..rows.get()).any(|r| {
        (0..columns.get()).any(|c| {
            screen.cell(r, c).is_some_and(|cell| {
                cell.fgcolor() != vt100::Color::Default
                    || cell.bgcolor() != vt100::Color::Default
                    || cell.bold()
                    || cell.inverse()
            })
        })
    })
}

#[test]
fn no_color_and_the_flag_show_no_colour_where_colour_is_the_default() {
    let daemon = Daemon::start(&[]);
    let mut alice = Chatc::logged_in(&daemon, "alice");
    let mut coloured = bob_at_a_terminal(&daemon, &[], &[]);
    alice.line("bob: look");
    coloured.wait_for_row("<alice> bob: look");
    assert!(any_styled_cell(&coloured), "colour is the default");
    drop(coloured);
    for (extra, env) in [
        (&[][..], &[("NO_COLOR", "1")][..]),
        (&["--no-color"][..], &[][..]),
    ] {
        let mut plain = bob_at_a_terminal(&daemon, extra, env);
        alice.line("bob: plain please");
        plain.wait_for_row("<alice> bob: plain please");
        assert!(
            !any_styled_cell(&plain),
            "{extra:?} {env:?}: {:#?}",
            plain.rows()
        );
        let raw = String::from_utf8_lossy(&plain.raw);
        assert!(
            !raw.contains("\x1b[3"),
            "a colour sequence was sent: {raw:?}"
        );
    }
}

#[test]
fn a_pasted_block_asks_first_then_sends_every_line_in_order() {
    let daemon = Daemon::start(&[]);
    let alice = Chatc::logged_in(&daemon, "alice");
    let mut bob = bob_at_a_terminal(&daemon, &[], &[]);
    bob.type_text("\x1b[200~p1\np2\np3\np4\np5\nunfinished\x1b[201~");
    bob.wait_for_input("send 5 pasted lines? [y/n] ");
    bob.type_text("y");
    for i in 1..=5 {
        alice.out.expect_contains(&format!("<bob> p{i}"));
    }
    bob.wait_for_row("*** sending 5 pasted lines");
    bob.wait_for_input("#lobby> unfinished");
}

#[test]
fn a_resize_redraws_the_input_at_the_new_width() {
    let daemon = Daemon::start(&[]);
    let mut bob = bob_at_a_terminal(&daemon, &[], &[]);
    let long: String = (0..80).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    bob.type_text(&long);
    bob.wait_screen("the long line scrolled to its end", |p| {
        let row = p.cursor_row();
        row.starts_with("#lobby> ") && long.ends_with(&row["#lobby> ".len()..])
    });
    assert!(bob.cursor_row().chars().count() < usize::from(COLUMNS));
    bob.resize(24, 40);
    bob.wait_screen("the line redrawn within 40 columns", |p| {
        let row = p.cursor_row();
        let (_, column) = p.parser.screen().cursor_position();
        row.starts_with("#lobby> ")
            && row.chars().count() < 40
            && long.ends_with(&row["#lobby> ".len()..])
            && usize::from(column) == row.chars().count()
    });
}

#[test]
fn ctrl_c_ends_chatc_and_restores_the_terminal() {
    let daemon = Daemon::start(&[]);
    let mut alice = Chatc::logged_in(&daemon, "alice");
    let mut bob = bob_at_a_terminal(&daemon, &[], &[]);
    alice.out.expect_contains("*** bob joined");
    bob.type_text("never sent");
    bob.wait_for_input("#lobby> never sent");
    bob.type_text(CTRL_C);
    assert!(!bob.wait_exit().success());
    alice.out.expect_contains("*** bob left");
    let raw = String::from_utf8_lossy(&bob.raw);
    let restored = raw
        .rfind("\x1b[?2004l")
        .expect("bracketed paste switched off");
    assert!(restored > raw.rfind("never sent").unwrap());
    assert!(bob.rows().iter().any(|r| r.contains("chatc: interrupted")));
    assert!(alice.finish().success());
}

#[test]
fn a_join_switches_the_prompt_and_own_lines_show_once_with_room_and_time() {
    let daemon = Daemon::start(&[]);
    let alice = Chatc::start_with(
        daemon.port,
        "alice",
        std::process::Stdio::piped(),
        &["--room", "#rust"],
    );
    alice.out.expect_contains("*** joined #rust");
    let mut bob = bob_at_a_terminal(&daemon, &[], &[]);
    bob.type_text("/join #rust\r");
    bob.wait_for_input("#rust> ");
    bob.wait_for_row("*** joined #rust (2 members)");
    bob.type_text("hello rust\r");
    alice.out.expect_contains("#rust] <bob> hello rust");
    bob.wait_for_row("#rust] <bob> hello rust");
    let rows = bob.rows();
    let shown = rows.iter().filter(|r| r.contains("hello rust")).count();
    assert_eq!(
        shown, 1,
        "the typed line once, from the server's echo: {rows:#?}"
    );
    bob.type_text("/part\r");
    bob.wait_for_row("*** left #rust");
    bob.wait_for_input("#lobby> ");
}

#[test]
fn slash_password_asks_twice_without_echo_and_changes_the_password() {
    let daemon = Daemon::start(&[]);
    let dir = temp_dir("pty-password");
    let file = dir.join("password");
    std::fs::write(&file, "correct horse\n").unwrap();
    let args = ["--register", "--password-file", file.to_str().unwrap()];
    let mut bob = bob_at_a_terminal(&daemon, &args, &[]);

    // Two entries that differ change nothing; Ctrl-C gives up (and does not end chatc).
    bob.type_text("/password\r");
    bob.wait_for_input("new password (not shown): ");
    bob.type_text("first try\r");
    bob.wait_for_input("the new password again: ");
    bob.type_text("second try\r");
    bob.wait_for_row("the two entries differ: password not changed");
    bob.type_text("/password\r");
    bob.wait_for_input("new password (not shown): ");
    bob.type_text("abandoned");
    bob.type_text(CTRL_C);
    bob.wait_for_row("*** password not changed");
    bob.wait_for_input("#lobby> ");

    bob.type_text("/password\r");
    bob.wait_for_input("new password (not shown): ");
    bob.type_text("battery staple\r");
    bob.wait_for_input("the new password again: ");
    bob.type_text("battery staple\r");
    bob.wait_for_row("*** password set");
    let rows = bob.rows();
    for secret in ["battery", "first try", "second try", "abandoned"] {
        assert!(!rows.iter().any(|r| r.contains(secret)), "{rows:#?}");
    }
    bob.type_text("/quit\r");
    assert!(bob.wait_exit().success());

    let mut raw = support::RawClient::connect(daemon.port);
    raw.send(&chatd::wire::Frame::Login {
        version: 2,
        nick: "bob",
        register: false,
        password: chatd::wire::Secret("battery staple"),
    });
    let answer = raw.recv().expect("an answer to LOGIN");
    assert!(answer.starts_with("Welcome"), "{answer}");
}
