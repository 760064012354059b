//! What the shell (and the CLI) asks of the app, one concern a file: each is an `impl Ringdesk`
//! block over the services `Ringdesk::open` builds.

mod calls;
mod crm;
mod desk;
mod providers;
mod team;
mod webhooks;
