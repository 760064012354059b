//! One SIP identity on one flow: the registration and the user agent behind the same local
//! address, sans-IO. Incoming bytes are parsed once and go to whichever of the two they
//! belong to; the registration's view of our address (after a NAT rewrite) becomes the
//! user agent's Contact, so calls are reachable where the registrar says we are.

use std::time::Instant;

use crate::message::{Limits, Message};
use crate::registration::{Registration, RegistrationEvent};
use crate::ua::{CallEvent, UserAgent};
use crate::uri::Uri;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent {
    Registration(RegistrationEvent),
    Call(CallEvent),
}

pub struct Endpoint {
    registration: Option<Registration>,
    ua: UserAgent,
    limits: Limits,
}

impl Endpoint {
    /// `registration` is None for an agent that only places calls through a proxy.
    pub fn new(registration: Option<Registration>, ua: UserAgent) -> Self {
        Endpoint {
            registration,
            ua,
            limits: Limits::default(),
        }
    }

    pub fn ua(&mut self) -> &mut UserAgent {
        &mut self.ua
    }

    pub fn registration(&mut self) -> Option<&mut Registration> {
        self.registration.as_mut()
    }

    pub fn start(&mut self, now: Instant) {
        if let Some(r) = self.registration.as_mut() {
            r.start(now);
        }
    }

    /// Quitting: hangs up every call and removes the binding.
    pub fn stop(&mut self, now: Instant) {
        for call in self.ua.live_calls() {
            self.ua.hangup(call, now);
        }
        if let Some(r) = self.registration.as_mut() {
            r.stop(now);
        }
    }

    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        match Message::parse_datagram(bytes, &self.limits) {
            Ok(message) => self.handle_message(message, now),
            // The user agent answers requests it cannot parse with a 400 where it can.
            Err(_) => self.ua.handle_bytes(bytes, now),
        }
    }

    /// A message already framed (from a stream).
    pub fn handle_message(&mut self, message: Message, now: Instant) {
        if self.is_for_registration(&message) {
            if let Some(r) = self.registration.as_mut() {
                r.handle_message(message, now);
            }
        } else {
            self.ua.handle_message(message, now);
        }
    }

    fn is_for_registration(&self, message: &Message) -> bool {
        !message.is_request() && self.registration.as_ref().is_some_and(|r| r.owns(message))
    }

    /// A new connection gave us a new local address: both halves move to it, and the
    /// registration registers it.
    pub fn rebind(&mut self, local_host: &str, local_port: u16, now: Instant) {
        self.ua.rebind(local_host, local_port);
        if let Some(r) = self.registration.as_mut() {
            r.rebind(local_host, local_port, now);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(r) = self.registration.as_mut() {
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now);
            }
        }
        if self.ua.poll_timeout().is_some_and(|t| t <= now) {
            self.ua.handle_timeout(now);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.registration
            .as_mut()
            .and_then(Registration::poll_transmit)
            .or_else(|| self.ua.poll_transmit())
    }

    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        if let Some(event) = self
            .registration
            .as_mut()
            .and_then(Registration::poll_event)
        {
            if let RegistrationEvent::Registered { contact, .. } = &event {
                if let Ok(uri) = Uri::parse(contact) {
                    self.ua.set_contact(uri);
                }
            }
            return Some(EndpointEvent::Registration(event));
        }
        self.ua.poll_event().map(EndpointEvent::Call)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let registration = self
            .registration
            .as_ref()
            .and_then(Registration::poll_timeout);
        [registration, self.ua.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }
}
