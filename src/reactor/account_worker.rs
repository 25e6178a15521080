//! The password worker: one thread that owns the account store and does what costs time on
//! purpose (argon2id, tens of milliseconds of a core per password) or waits for the disk (a
//! store's fsyncs), behind a bounded queue, so the loop thread never waits for either. Shell
//! code: the chat machine decides what to ask; this performs it and hands the answer back.

use super::disk::spawn_thread;
use crate::accounts::{AccountStore, Passwords, StoreError};
use crate::chat::{AccountAnswer, AccountJob, ClientId};
use mio::Waker;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};

/// Checks that may wait for the worker. At ~40 ms a check (docs/PERFORMANCE.md) the last
/// waits about a second; past it a check is answered ACCOUNTS_BUSY at once, so a flood of
/// logins costs the daemon one core and this queue's memory, never the loop's time.
pub const QUEUE: usize = 32;

/// One job, and who waits for it.
struct Task {
    client: ClientId,
    ticket: u64,
    job: AccountJob,
}

/// A job done.
pub struct Answered {
    pub client: ClientId,
    pub ticket: u64,
    pub answer: AccountAnswer,
}

/// The queue to the worker and its answers.
pub struct AccountWorker {
    tasks: SyncSender<Task>,
    done: Receiver<Answered>,
}

impl AccountWorker {
    /// Starts the worker with `store`; it wakes the poll with `waker` when a job is done.
    pub fn start(
        store: Box<dyn AccountStore>,
        passwords: Passwords,
        waker: Arc<Waker>,
    ) -> io::Result<AccountWorker> {
        let (tasks, queued) = mpsc::sync_channel::<Task>(QUEUE);
        let (done_tx, done) = mpsc::channel();
        spawn_thread("passwords", move || {
            let mut store = store;
            // The queue closes when the daemon drops its `AccountWorker`.
            while let Ok(task) = queued.recv() {
                let answer = perform(store.as_mut(), &passwords, task.job);
                let answered = Answered {
                    client: task.client,
                    ticket: task.ticket,
                    answer,
                };
                if done_tx.send(answered).is_err() {
                    return;
                }
                let _ = waker.wake();
            }
        })?;
        Ok(AccountWorker { tasks, done })
    }

    /// Queues `job`; when the queue is full, the answer at once ([`AccountAnswer::Busy`]).
    pub fn submit(
        &self,
        client: ClientId,
        ticket: u64,
        job: AccountJob,
    ) -> Result<(), AccountAnswer> {
        let task = Task {
            client,
            ticket,
            job,
        };
        match self.tasks.try_send(task) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(AccountAnswer::Busy(format!(
                "{QUEUE} password checks are waiting"
            ))),
            Err(TrySendError::Disconnected(_)) => Err(AccountAnswer::Busy(
                "the password worker has stopped".into(),
            )),
        }
    }

    /// A job done, if any.
    pub fn poll_done(&mut self) -> Option<Answered> {
        self.done.try_recv().ok()
    }
}

/// Does `job` against `store`: what the worker thread runs.
pub fn perform(
    store: &mut dyn AccountStore,
    passwords: &Passwords,
    job: AccountJob,
) -> AccountAnswer {
    let stored = |why: StoreError| match why {
        StoreError::Exists => AccountAnswer::Exists,
        StoreError::Missing => AccountAnswer::Missing,
        StoreError::Held => AccountAnswer::Taken,
        StoreError::Io(err) => {
            log::warn!("account store: {err}");
            AccountAnswer::Busy("the account store could not be written".into())
        }
        StoreError::Unavailable(why) => {
            log::warn!("account store: {why}");
            AccountAnswer::Busy("the account store cannot be reached".into())
        }
    };
    match job {
        AccountJob::Verify { name, password } => match store.hash_of(&name) {
            Err(why) => stored(why),
            Ok(None) => AccountAnswer::Missing,
            Ok(Some(hash)) if passwords.verify(&password, &hash) => AccountAnswer::Done,
            Ok(Some(_)) => AccountAnswer::WrongPassword,
        },
        AccountJob::Register { name, password } => {
            match store.hash_of(&name) {
                Err(why) => return stored(why),
                Ok(Some(_)) => return AccountAnswer::Exists,
                Ok(None) => {}
            }
            match passwords.hash(&password) {
                Ok(hash) => store
                    .insert(&name, hash)
                    .map_or_else(stored, |()| AccountAnswer::Done),
                Err(why) => AccountAnswer::Busy(why),
            }
        }
        AccountJob::Change { name, old, new } => {
            match store.hash_of(&name) {
                Err(why) => return stored(why),
                Ok(None) => return AccountAnswer::Missing,
                Ok(Some(hash)) if !passwords.verify(&old, &hash) => {
                    return AccountAnswer::WrongPassword;
                }
                Ok(Some(_)) => {}
            }
            match passwords.hash(&new) {
                Ok(hash) => store
                    .replace(&name, hash)
                    .map_or_else(stored, |()| AccountAnswer::Done),
                Err(why) => AccountAnswer::Busy(why),
            }
        }
    }
}
