//! Numeric error codes carried by ERROR frames: the wire's vocabulary of refusals.

/// A refusal or failure, as sent in an ERROR frame. Numbers are part of the wire contract
/// (`docs/PROTOCOL.md`, "Error codes"); never renumber, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// HELLO carried a protocol version this server does not speak.
    BadVersion,
    /// Nickname breaks the length or character rules.
    InvalidNick,
    /// Nickname already in use (compared case-insensitively).
    NickTaken,
    /// A frame other than HELLO arrived before login.
    NotLoggedIn,
    /// HELLO arrived after a successful login.
    AlreadyLoggedIn,
    /// Private message to a nickname nobody holds.
    UnknownUser,
    /// The length field exceeds the maximum frame size.
    FrameTooLarge,
    /// The type byte names no known frame, or a server-only frame came from a client.
    UnknownFrameType,
    /// The payload does not match its frame type's layout (includes invalid UTF-8).
    MalformedFrame,
    /// Message text is longer than the server allows.
    MessageTooLong,
    /// Message text is empty.
    EmptyMessage,
    /// The server holds its maximum number of clients.
    ServerFull,
    /// No valid HELLO within the login timeout.
    LoginTimeout,
    /// No answer to a keepalive PING in time.
    PingTimeout,
    /// The client stopped reading and its output queue filled up.
    OutputOverflow,
    /// The shared folder could not be listed.
    FilesUnavailable,
    /// The server is shutting down.
    ShuttingDown,
    /// GET of a name the shared folder does not hold.
    NoSuchFile,
    /// A file name breaks the rules (path separators, `..`, NUL, ...).
    BadFileName,
    /// The name is a directory, device, FIFO or symbolic link, not a regular file.
    NotARegularFile,
    /// PUT of a name that already exists (never overwritten).
    FileExists,
    /// PUT larger than the server accepts.
    FileTooLarge,
    /// Not enough free space for the upload.
    NoSpace,
    /// Too many transfers in progress (for this client or in total).
    TooManyTransfers,
    /// A transfer failed on the server's side (disk error, digest mismatch, dead peer).
    TransferFailed,
    /// CANCEL of a transfer this client does not have.
    UnknownTransfer,
    /// The source address already holds its maximum number of connections.
    TooManyFromAddress,
    /// The client sends frames faster than its rate limit: first a warning (input is slowed,
    /// nothing is dropped), then, if the flood goes on, a closing error.
    RateLimited,
    /// A room name breaks the rules (a `#`, then letters, digits, `_`, `-`, `.`).
    InvalidRoom,
    /// A room frame for a room the client is not a member of.
    NotInRoom,
    /// NAMES of a room that does not exist.
    NoSuchRoom,
    /// JOIN past the client's room bound, or of a new room past the server's.
    TooManyRooms,
    /// A topic longer than the server allows.
    TopicTooLong,
    /// A guest HELLO, or a registration, for a nickname that is a registered account.
    NickRegistered,
    /// A guest HELLO to a server that admits accounts only (`--require-account`).
    AccountRequired,
    /// LOGIN or SET_PASSWORD with a password that does not match the account's.
    WrongPassword,
    /// LOGIN, or BAN, naming an account that is not registered.
    NoSuchAccount,
    /// Too many wrong passwords for the account or from the address: wait and retry.
    LoginThrottled,
    /// A password sent over a connection that is not encrypted.
    PlaintextPassword,
    /// A new password shorter than 8 or longer than 256 bytes.
    WeakPassword,
    /// The password checker's queue is full, or the account store could not be written.
    AccountsBusy,
    /// SET_PASSWORD with an old password from a guest, or BAN of a guest.
    NotRegistered,
    /// A room operator's frame (or SET_TOPIC in a room with operators) from a member who is not one.
    NotOperator,
    /// JOIN of a room whose operators banned the user's account.
    Banned,
    /// JOIN of an invite-only room without an invitation.
    InviteOnly,
    /// BAN past a room's bound of bans.
    ListFull,
    /// A registration past the source address's hourly allowance, or while the server holds
    /// its maximum of accounts.
    RegistrationLimited,
    /// The servers' cluster cannot be reached (or is too busy): what needs it is refused
    /// until it is back; nothing was done.
    ClusterUnavailable,
    /// A code this build does not know (kept so clients can show it).
    Other(u16),
}

impl ErrorCode {
    /// The number on the wire.
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::BadVersion => 1,
            ErrorCode::InvalidNick => 2,
            ErrorCode::NickTaken => 3,
            ErrorCode::NotLoggedIn => 4,
            ErrorCode::AlreadyLoggedIn => 5,
            ErrorCode::UnknownUser => 6,
            ErrorCode::FrameTooLarge => 7,
            ErrorCode::UnknownFrameType => 8,
            ErrorCode::MalformedFrame => 9,
            ErrorCode::MessageTooLong => 10,
            ErrorCode::EmptyMessage => 11,
            ErrorCode::ServerFull => 12,
            ErrorCode::LoginTimeout => 13,
            ErrorCode::PingTimeout => 14,
            ErrorCode::OutputOverflow => 15,
            ErrorCode::FilesUnavailable => 16,
            ErrorCode::ShuttingDown => 17,
            ErrorCode::NoSuchFile => 18,
            ErrorCode::BadFileName => 19,
            ErrorCode::NotARegularFile => 20,
            ErrorCode::FileExists => 21,
            ErrorCode::FileTooLarge => 22,
            ErrorCode::NoSpace => 23,
            ErrorCode::TooManyTransfers => 24,
            ErrorCode::TransferFailed => 25,
            ErrorCode::UnknownTransfer => 26,
            ErrorCode::TooManyFromAddress => 27,
            ErrorCode::RateLimited => 28,
            ErrorCode::InvalidRoom => 29,
            ErrorCode::NotInRoom => 30,
            ErrorCode::NoSuchRoom => 31,
            ErrorCode::TooManyRooms => 32,
            ErrorCode::TopicTooLong => 33,
            ErrorCode::NickRegistered => 34,
            ErrorCode::AccountRequired => 35,
            ErrorCode::WrongPassword => 36,
            ErrorCode::NoSuchAccount => 37,
            ErrorCode::LoginThrottled => 38,
            ErrorCode::PlaintextPassword => 39,
            ErrorCode::WeakPassword => 40,
            ErrorCode::AccountsBusy => 41,
            ErrorCode::NotRegistered => 42,
            ErrorCode::NotOperator => 43,
            ErrorCode::Banned => 44,
            ErrorCode::InviteOnly => 45,
            ErrorCode::ListFull => 46,
            ErrorCode::RegistrationLimited => 47,
            ErrorCode::ClusterUnavailable => 50,
            ErrorCode::Other(n) => n,
        }
    }

    /// The code for a number read off the wire.
    pub fn from_u16(n: u16) -> ErrorCode {
        match n {
            1 => ErrorCode::BadVersion,
            2 => ErrorCode::InvalidNick,
            3 => ErrorCode::NickTaken,
            4 => ErrorCode::NotLoggedIn,
            5 => ErrorCode::AlreadyLoggedIn,
            6 => ErrorCode::UnknownUser,
            7 => ErrorCode::FrameTooLarge,
            8 => ErrorCode::UnknownFrameType,
            9 => ErrorCode::MalformedFrame,
            10 => ErrorCode::MessageTooLong,
            11 => ErrorCode::EmptyMessage,
            12 => ErrorCode::ServerFull,
            13 => ErrorCode::LoginTimeout,
            14 => ErrorCode::PingTimeout,
            15 => ErrorCode::OutputOverflow,
            16 => ErrorCode::FilesUnavailable,
            17 => ErrorCode::ShuttingDown,
            18 => ErrorCode::NoSuchFile,
            19 => ErrorCode::BadFileName,
            20 => ErrorCode::NotARegularFile,
            21 => ErrorCode::FileExists,
            22 => ErrorCode::FileTooLarge,
            23 => ErrorCode::NoSpace,
            24 => ErrorCode::TooManyTransfers,
            25 => ErrorCode::TransferFailed,
            26 => ErrorCode::UnknownTransfer,
            27 => ErrorCode::TooManyFromAddress,
            28 => ErrorCode::RateLimited,
            29 => ErrorCode::InvalidRoom,
            30 => ErrorCode::NotInRoom,
            31 => ErrorCode::NoSuchRoom,
            32 => ErrorCode::TooManyRooms,
            33 => ErrorCode::TopicTooLong,
            34 => ErrorCode::NickRegistered,
            35 => ErrorCode::AccountRequired,
            36 => ErrorCode::WrongPassword,
            37 => ErrorCode::NoSuchAccount,
            38 => ErrorCode::LoginThrottled,
            39 => ErrorCode::PlaintextPassword,
            40 => ErrorCode::WeakPassword,
            41 => ErrorCode::AccountsBusy,
            42 => ErrorCode::NotRegistered,
            43 => ErrorCode::NotOperator,
            44 => ErrorCode::Banned,
            45 => ErrorCode::InviteOnly,
            46 => ErrorCode::ListFull,
            47 => ErrorCode::RegistrationLimited,
            50 => ErrorCode::ClusterUnavailable,
            other => ErrorCode::Other(other),
        }
    }

    /// A short name for people, e.g. "nick taken".
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::BadVersion => "bad version",
            ErrorCode::InvalidNick => "invalid nick",
            ErrorCode::NickTaken => "nick taken",
            ErrorCode::NotLoggedIn => "not logged in",
            ErrorCode::AlreadyLoggedIn => "already logged in",
            ErrorCode::UnknownUser => "unknown user",
            ErrorCode::FrameTooLarge => "frame too large",
            ErrorCode::UnknownFrameType => "unknown frame type",
            ErrorCode::MalformedFrame => "malformed frame",
            ErrorCode::MessageTooLong => "message too long",
            ErrorCode::EmptyMessage => "empty message",
            ErrorCode::ServerFull => "server full",
            ErrorCode::LoginTimeout => "login timeout",
            ErrorCode::PingTimeout => "ping timeout",
            ErrorCode::OutputOverflow => "output overflow",
            ErrorCode::FilesUnavailable => "files unavailable",
            ErrorCode::ShuttingDown => "shutting down",
            ErrorCode::NoSuchFile => "no such file",
            ErrorCode::BadFileName => "bad file name",
            ErrorCode::NotARegularFile => "not a regular file",
            ErrorCode::FileExists => "file exists",
            ErrorCode::FileTooLarge => "file too large",
            ErrorCode::NoSpace => "no space",
            ErrorCode::TooManyTransfers => "too many transfers",
            ErrorCode::TransferFailed => "transfer failed",
            ErrorCode::UnknownTransfer => "unknown transfer",
            ErrorCode::TooManyFromAddress => "too many from address",
            ErrorCode::RateLimited => "rate limited",
            ErrorCode::InvalidRoom => "invalid room",
            ErrorCode::NotInRoom => "not in room",
            ErrorCode::NoSuchRoom => "no such room",
            ErrorCode::TooManyRooms => "too many rooms",
            ErrorCode::TopicTooLong => "topic too long",
            ErrorCode::NickRegistered => "nick registered",
            ErrorCode::AccountRequired => "account required",
            ErrorCode::WrongPassword => "wrong password",
            ErrorCode::NoSuchAccount => "no such account",
            ErrorCode::LoginThrottled => "login throttled",
            ErrorCode::PlaintextPassword => "plaintext password",
            ErrorCode::WeakPassword => "weak password",
            ErrorCode::AccountsBusy => "accounts busy",
            ErrorCode::NotRegistered => "not registered",
            ErrorCode::NotOperator => "not operator",
            ErrorCode::Banned => "banned",
            ErrorCode::InviteOnly => "invite only",
            ErrorCode::ListFull => "list full",
            ErrorCode::RegistrationLimited => "registration limited",
            ErrorCode::ClusterUnavailable => "cluster unavailable",
            ErrorCode::Other(_) => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_number() {
        for n in 0..=60u16 {
            assert_eq!(ErrorCode::from_u16(n).to_u16(), n);
        }
    }
}
