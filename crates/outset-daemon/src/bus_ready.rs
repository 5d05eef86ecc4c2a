//! `ready on dbus NAME`: one non-blocking bus connection, kept while some job waits for a
//! name, that follows `NameOwnerChanged`. Checks answer from what the bus has said so far,
//! so a slow or silent bus never holds up the loop.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use outset_sys::dbus::BusWatch;
use outset_sys::poll::Poller;

/// How long after a failed connection the bus is tried again.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct BusReady {
    watch: Option<BusWatch>,
    retry_at: Option<Instant>,
}

impl BusReady {
    /// Whether `name` has an owner as far as is known; connects (registering the socket
    /// under `token`) when there is no connection yet.
    pub fn owned(&mut self, name: &str, session: bool, poller: &Poller, token: u64) -> bool {
        if self.watch.is_none() {
            if self.retry_at.is_some_and(|t| Instant::now() < t) {
                return false;
            }
            let Some(address) = outset_sys::dbus::bus_address(session) else {
                log::debug!("no session bus address; `dbus {name}` cannot hold");
                return false;
            };
            match BusWatch::connect(&address) {
                Ok(w) => {
                    if let Err(e) = poller.add(w.as_fd(), token) {
                        log::warn!("watching the bus connection: {e}");
                        self.retry_at = Some(Instant::now() + RETRY);
                        return false;
                    }
                    self.watch = Some(w);
                }
                Err(e) => {
                    log::debug!("connecting to the bus at {address}: {e}");
                    self.retry_at = Some(Instant::now() + RETRY);
                    return false;
                }
            }
        }
        let Some(w) = self.watch.as_mut() else {
            return false;
        };
        match w.owned(name) {
            Ok(owned) => owned,
            Err(e) => {
                self.close(poller, &e.to_string());
                false
            }
        }
    }

    /// The bus connection is readable. Returns whether a watched name changed owner.
    pub fn on_readable(&mut self, poller: &Poller) -> bool {
        let Some(w) = self.watch.as_mut() else {
            return false;
        };
        match w.on_readable() {
            Ok(changed) => changed,
            Err(e) => {
                self.close(poller, &e.to_string());
                false
            }
        }
    }

    /// No job waits for a bus name any more: the connection goes.
    pub fn idle(&mut self, poller: &Poller) {
        if self.watch.is_some() {
            self.close(poller, "no job waits for a bus name");
        }
        self.retry_at = None;
    }

    fn close(&mut self, poller: &Poller, why: &str) {
        if let Some(w) = self.watch.take() {
            log::debug!("bus connection closed: {why}");
            let _ = poller.delete(w.as_fd());
            self.retry_at = Some(Instant::now() + RETRY);
        }
    }
}
