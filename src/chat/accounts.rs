//! Accounts as the chat machine sees them: which nicknames are registered, LOGIN and
//! SET_PASSWORD, the throttle, and the password worker's answers. The machine never sees a
//! hash: it hands the shell an [`AccountJob`] and waits, the session paused, for the answer.

use super::peer_text::PeerText;
use super::registrations::{RegistrationRefusal, Registrations};
use super::session::LoginState;
use super::throttle::{Refusal, Throttle};
use super::{AccountAnswer, AccountJob, ChatRequest, ChatServer, ClientId, Outbox, nick};
use crate::accounts::PasswordError;
use crate::wire::{ErrorCode, Frame, Secret};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Instant;

/// How a connection reaches the server: whether what it carries is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP: anyone on the path reads it. Passwords are refused on it unless
    /// [`super::ChatConfig::allow_plaintext_passwords`].
    Plain,
    /// TLS.
    Tls,
}

/// A password check a session waits for.
#[derive(Debug)]
pub(super) struct Check {
    pub(super) ticket: u64,
    pub(super) purpose: Purpose,
}

impl Purpose {
    /// Whether the check makes an account.
    fn registers(&self) -> bool {
        matches!(
            self,
            Purpose::Register | Purpose::Login { register: true, .. }
        )
    }
}

/// What a check is for, and so what its answer does.
#[derive(Debug)]
pub(super) enum Purpose {
    /// LOGIN: on success the session logs in as `nick`.
    Login { nick: Box<str>, register: bool },
    /// SET_PASSWORD from a guest: its nickname becomes an account.
    Register,
    /// SET_PASSWORD from an account.
    Change,
}

/// The chat machine's account state.
#[derive(Debug, Default)]
pub(super) struct Accounts {
    /// Folded names of every account.
    registered: HashSet<Box<str>>,
    throttle: Throttle,
    registrations: Registrations,
    next_ticket: u64,
}

impl ChatServer {
    /// Tells the machine that the account `name` (a nickname, any case) exists: the shell
    /// calls it for every account of its store at startup.
    pub fn add_account(&mut self, name: &str) {
        self.accounts.registered.insert(nick::fold(name));
    }

    /// Whether `name` (any case) is a registered account.
    pub fn is_registered(&self, name: &str) -> bool {
        self.accounts.registered.contains(&*nick::fold(name))
    }

    /// Whether `id` waits for a password check.
    pub(super) fn is_checking(&self, id: ClientId) -> bool {
        self.session(id).is_some_and(|s| s.check.is_some())
    }

    /// A guest's HELLO: refused when accounts are required or the nick is registered.
    pub(super) fn guest_allowed(
        &mut self,
        id: ClientId,
        nick: &str,
        out: &mut impl Outbox,
    ) -> bool {
        if self.config.require_account {
            let text = "this server admits accounts only: send LOGIN";
            self.refuse(id, ErrorCode::AccountRequired, false, text, out);
            return false;
        }
        if self.is_registered(nick) {
            let text = format!(
                "nickname {} is registered: log in with its password",
                PeerText(nick)
            );
            self.refuse(id, ErrorCode::NickRegistered, false, &text, out);
            return false;
        }
        true
    }

    /// Whether `id`'s connection may carry passwords; refuses with PLAINTEXT_PASSWORD if not.
    fn password_allowed(&mut self, id: ClientId, out: &mut impl Outbox) -> bool {
        let plain = self
            .session(id)
            .is_some_and(|s| s.transport == Transport::Plain);
        if plain && !self.config.allow_plaintext_passwords {
            let text = "passwords are accepted over TLS only";
            self.refuse(id, ErrorCode::PlaintextPassword, false, text, out);
            return false;
        }
        true
    }

    /// LOGIN (version already checked): hands the check to the shell, or refuses.
    pub(super) fn handle_login(
        &mut self,
        now: Instant,
        id: ClientId,
        nick: &str,
        register: bool,
        password: Secret<'_>,
        out: &mut impl Outbox,
    ) {
        if !self.password_allowed(id, out) {
            return;
        }
        if let Err(err) = nick::validate(nick) {
            self.refuse(id, ErrorCode::InvalidNick, false, &err.to_string(), out);
            return;
        }
        let name: Box<str> = nick::fold(nick);
        if self.nicks.contains_key(&name) {
            let text = format!("nickname {nick:?} is taken");
            self.refuse(id, ErrorCode::NickTaken, false, &text, out);
            return;
        }
        let job = if register {
            if self.accounts.registered.contains(&name) {
                let text = format!("nickname {nick:?} is registered already");
                self.refuse(id, ErrorCode::NickRegistered, false, &text, out);
                return;
            }
            if let Err(err) = PasswordError::check(password.0) {
                self.refuse(id, ErrorCode::WeakPassword, false, &err.to_string(), out);
                return;
            }
            AccountJob::Register {
                name,
                password: password.0.to_string(),
            }
        } else {
            // In a cluster another node may have made the account since this one started:
            // the store (the cluster's) says whether it exists.
            if !self.accounts.registered.contains(&name) && !self.clustered() {
                let text = format!("no account named {nick:?}");
                self.refuse(id, ErrorCode::NoSuchAccount, false, &text, out);
                return;
            }
            AccountJob::Verify {
                name,
                password: password.0.to_string(),
            }
        };
        let purpose = Purpose::Login {
            nick: nick.into(),
            register,
        };
        self.ask_check(now, id, job, purpose, out);
    }

    /// SET_PASSWORD from a logged-in client.
    pub(super) fn handle_set_password(
        &mut self,
        now: Instant,
        id: ClientId,
        nick: &str,
        old: Secret<'_>,
        new: Secret<'_>,
        out: &mut impl Outbox,
    ) {
        if !self.password_allowed(id, out) {
            return;
        }
        if let Err(err) = PasswordError::check(new.0) {
            self.refuse(id, ErrorCode::WeakPassword, false, &err.to_string(), out);
            return;
        }
        let name: Box<str> = nick::fold(nick);
        let has_account = self.session(id).is_some_and(|s| s.account.is_some());
        let (job, purpose) = if has_account {
            let job = AccountJob::Change {
                name,
                old: old.0.to_string(),
                new: new.0.to_string(),
            };
            (job, Purpose::Change)
        } else if !old.0.is_empty() {
            let text = "you are a guest: send an empty old password to register your nickname";
            self.refuse(id, ErrorCode::NotRegistered, false, text, out);
            return;
        } else if self.accounts.registered.contains(&name) {
            let text = format!("nickname {nick:?} is registered already");
            self.refuse(id, ErrorCode::NickRegistered, false, &text, out);
            return;
        } else {
            let password = new.0.to_string();
            (AccountJob::Register { name, password }, Purpose::Register)
        };
        self.ask_check(now, id, job, purpose, out);
    }

    /// Hands `job` to the shell unless the throttle says wait; the session then waits.
    fn ask_check(
        &mut self,
        now: Instant,
        id: ClientId,
        job: AccountJob,
        purpose: Purpose,
        out: &mut impl Outbox,
    ) {
        let Some(address) = self.session(id).map(|s| s.address) else {
            return;
        };
        let account = match &job {
            AccountJob::Register { .. } => None,
            other => Some(other.name()),
        };
        match self.accounts.throttle.admit(now, account, address) {
            Ok(()) => {}
            Err(Refusal::Wait(wait)) => {
                let secs = wait.as_secs_f64().ceil() as u64;
                let text = format!("too many wrong passwords: try again in {secs} s");
                self.refuse(id, ErrorCode::LoginThrottled, false, &text, out);
                return;
            }
            Err(Refusal::Busy) => {
                let text = "your address has too many password checks waiting";
                self.refuse(id, ErrorCode::LoginThrottled, false, text, out);
                return;
            }
        }
        if purpose.registers() && !self.registration_allowed(now, id, address, out) {
            return;
        }
        self.accounts.throttle.begin(address);
        if purpose.registers() {
            self.accounts.registrations.begin(now, address);
        }
        let ticket = self.accounts.next_ticket;
        self.accounts.next_ticket += 1;
        if let Some(session) = self.session_mut(id) {
            session.check = Some(Check { ticket, purpose });
        }
        self.requests.push_back(ChatRequest::Account {
            client: id,
            ticket,
            job,
        });
    }

    /// Whether `address` may make an account now; refuses with REGISTRATION_LIMITED if not.
    fn registration_allowed(
        &mut self,
        now: Instant,
        id: ClientId,
        address: super::AddressKey,
        out: &mut impl Outbox,
    ) -> bool {
        let registered = self.accounts.registered.len();
        let (per_hour, max) = (self.config.registrations_per_hour, self.config.max_accounts);
        let refusal = match self
            .accounts
            .registrations
            .admit(now, address, registered, per_hour, max)
        {
            Ok(()) => return true,
            Err(refusal) => refusal,
        };
        let text = match refusal {
            RegistrationRefusal::Address { retry_in } => format!(
                "your address made its {per_hour} registrations for the hour: try again in {} s",
                retry_in.as_secs_f64().ceil() as u64
            ),
            RegistrationRefusal::Full => {
                format!("this server holds its maximum of {max} accounts: no more registrations")
            }
        };
        self.refuse(id, ErrorCode::RegistrationLimited, false, &text, out);
        false
    }

    /// The password worker's answer to the [`ChatRequest::Account`] with `ticket`. Ignored
    /// if `client` has ended since (even if its id now belongs to another connection). The
    /// session's input is read again ([`ChatServer::poll_resumed`]).
    pub fn handle_account_answer(
        &mut self,
        now: Instant,
        client: ClientId,
        ticket: u64,
        answer: AccountAnswer,
        out: &mut impl Outbox,
    ) {
        self.last_now = Some(now);
        let Some(session) = self.session_mut(client) else {
            return;
        };
        if session.check.as_ref().is_none_or(|c| c.ticket != ticket) {
            return;
        }
        let Some(check) = session.check.take() else {
            return;
        };
        let address = session.address;
        let account = nick::fold(match (&check.purpose, &session.state) {
            (Purpose::Login { nick, .. }, _) => nick,
            (_, LoginState::LoggedIn { nick, .. }) => nick,
            (_, LoginState::AwaitingHello { .. }) => "",
        })
        .to_string();
        self.accounts.throttle.end(address);
        if check.purpose.registers() {
            let made = matches!(answer, AccountAnswer::Done);
            self.accounts.registrations.end(address, made);
        }
        self.resumed.push(client);
        match answer {
            AccountAnswer::Done => self.check_passed(now, client, &account, check.purpose, out),
            AccountAnswer::WrongPassword => {
                self.accounts.throttle.failed(now, &account, address);
                let text = "wrong password";
                self.refuse(client, ErrorCode::WrongPassword, false, text, out);
            }
            AccountAnswer::Exists => {
                self.accounts.registered.insert(account.as_str().into());
                let text = "that nickname is registered already";
                self.refuse(client, ErrorCode::NickRegistered, false, text, out);
            }
            AccountAnswer::Taken => {
                let text = "that nickname is in use (on another server)";
                self.refuse(client, ErrorCode::NickTaken, false, text, out);
            }
            AccountAnswer::Missing => {
                self.accounts.registered.remove(account.as_str());
                let text = "no such account";
                self.refuse(client, ErrorCode::NoSuchAccount, false, text, out);
            }
            AccountAnswer::Busy(why) => {
                let text = format!("accounts are busy, try again later: {why}");
                self.refuse(client, ErrorCode::AccountsBusy, false, &text, out);
            }
        }
        self.settle_output(now, out);
    }

    fn check_passed(
        &mut self,
        now: Instant,
        id: ClientId,
        account: &str,
        purpose: Purpose,
        out: &mut impl Outbox,
    ) {
        self.accounts.throttle.succeeded(account);
        // Made now, or proved to exist (in a cluster, perhaps made on another node).
        self.accounts.registered.insert(account.into());
        let account: Rc<str> = Rc::from(account);
        match purpose {
            Purpose::Login { nick, .. } => {
                // Someone may have logged in as `nick` while the password was checked.
                if self.nicks.contains_key(&*account) {
                    let text = format!("nickname {nick:?} is taken");
                    self.refuse(id, ErrorCode::NickTaken, false, &text, out);
                    return;
                }
                self.log_in(now, id, &nick, Some(account), out);
            }
            Purpose::Register | Purpose::Change => {
                if let Some(session) = self.session_mut(id) {
                    session.account = Some(account);
                }
                self.output.send(id, &Frame::PasswordSet, out);
            }
        }
    }

    /// A session with a check waiting ends: its address's count of checks goes down.
    pub(super) fn forget_check(&mut self, address: super::AddressKey, purpose: &Purpose) {
        self.accounts.throttle.end(address);
        if purpose.registers() {
            self.accounts.registrations.abandon();
        }
    }
}
