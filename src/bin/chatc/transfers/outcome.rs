//! How a transfer ends: what its machine's last event means here (a download is checked
//! against its digest and put in place), the server's verdict from TRANSFER_RESULT, and the
//! final line that tells both once they are in.

use super::active::Active;
use super::local_end::LocalEnd;
use chatd::client::render;
use chatd::files::part::FinishError;
use chatd::rudp::{Event, TransferError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a finished transfer waits for the server's TRANSFER_RESULT before its final line
/// is printed without the server's figures.
pub(super) const VERDICT_WAIT: Duration = Duration::from_secs(3);

/// What a transfer achieved once its machine reported the end, before the server's word.
pub(super) enum Ended {
    /// Stored and digest-checked locally.
    Downloaded { path: PathBuf },
    /// Every byte acknowledged; the server checks the digest.
    Uploaded,
}

/// The server's TRANSFER_RESULT.
pub(super) struct ServerVerdict {
    pub(super) ok: bool,
    pub(super) bytes_sent: u64,
    pub(super) bytes_retransmitted: u64,
    pub(super) text: String,
}

impl Active {
    /// What a reported end means here: a download is verified and put in place now.
    pub(super) fn outcome(&mut self, event: Event) -> Result<Ended, String> {
        let name = render::escape(&self.name).into_owned();
        if let Event::Failed(e @ TransferError::NoAnswer { .. }) = &event {
            let kept = match self.local_end {
                LocalEnd::Download(_) => format!("; the .part file is kept: /get {name} resumes"),
                LocalEnd::Upload(_) => String::new(),
            };
            return Err(format!(
                "*** {name}: failed: the server's UDP port {} never answered ({e}): something \
                 between you and the server (a firewall?) drops the UDP that transfers need; \
                 chat goes on over TCP{kept}",
                self.server.port()
            ));
        }
        match (&mut self.local_end, event) {
            (LocalEnd::Upload(_), Event::Finished) => Ok(Ended::Uploaded),
            (LocalEnd::Upload(_), Event::Failed(e)) => {
                Err(format!("*** {name}: upload failed: {e}"))
            }
            (LocalEnd::Download(receiver), Event::Finished) => {
                // The receiver stays, to answer a repeated FIN; the file leaves it now.
                let Some(part) = receiver.sink.take() else {
                    return Err(format!("*** {name}: failed: the file was already taken"));
                };
                match part.finish(self.size, self.digest) {
                    Ok(path) => Ok(Ended::Downloaded { path }),
                    Err(e) => {
                        let kept = if matches!(e, FinishError::DigestMismatch { .. }) {
                            "the .part file was removed"
                        } else {
                            "the .part file is kept"
                        };
                        Err(format!("*** {name}: failed: {e}; {kept}"))
                    }
                }
            }
            (LocalEnd::Download(_), Event::Failed(e)) => Err(format!(
                "*** {name}: failed: {e}; the .part file is kept: /get {name} resumes"
            )),
        }
    }

    /// The final line of a transfer that ended well here, with the server's figures when they
    /// came; `Err` with a line when the server says it failed.
    pub(super) fn final_line(&self, ended: &Ended, ended_at: Instant) -> Result<String, String> {
        let name = render::escape(&self.name);
        let bytes = self.size - self.start;
        let secs = ended_at
            .saturating_duration_since(self.started)
            .as_secs_f64()
            .max(1e-6);
        let speed = format!(
            "{} in {secs:.2} s ({}/s, {:.1} Mbit/s)",
            render::size(bytes),
            render::size((bytes as f64 / secs) as u64),
            bytes as f64 * 8.0 / secs / 1e6
        );
        let share = |retransmitted: u64, sent: u64| {
            if sent == 0 {
                "0.0% retransmitted".to_string()
            } else {
                format!(
                    "{:.1}% retransmitted",
                    100.0 * retransmitted as f64 / sent as f64
                )
            }
        };
        match (ended, &self.verdict) {
            (_, Some(v)) if !v.ok => Err(format!(
                "*** {name}: failed on the server: {}",
                render::escape(&v.text)
            )),
            (Ended::Downloaded { path }, verdict) => {
                let retrans = match verdict {
                    Some(v) => share(v.bytes_retransmitted, v.bytes_sent),
                    None => "retransmitted share unknown (no word from the server)".into(),
                };
                Ok(format!(
                    "*** {name}: done: {speed}, {retrans}, digest ok, saved as {}",
                    path.display()
                ))
            }
            (Ended::Uploaded, verdict) => {
                let stats = self.local_end.stats();
                let mut retrans = share(stats.bytes_retransmitted, stats.bytes_sent);
                if stats.datagram_size != 0 {
                    retrans += &format!(
                        " (the path dropped full-size datagrams: {} bytes each)",
                        stats.datagram_size
                    );
                }
                let checked = match verdict {
                    Some(v) => format!(
                        "the server verified the digest and {}",
                        render::escape(&v.text)
                    ),
                    None => "no word from the server on its digest check".into(),
                };
                match verdict {
                    Some(_) => Ok(format!(
                        "*** {name}: uploaded {speed}, {retrans}; {checked}"
                    )),
                    None => Err(format!(
                        "*** {name}: uploaded {speed}, {retrans}; {checked}"
                    )),
                }
            }
        }
    }
}
