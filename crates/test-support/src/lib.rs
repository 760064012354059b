//! What Ringdesk's tests share across crates (and with the end-to-end suite, through binaries).

pub mod carrier;
pub mod contract_crm;
