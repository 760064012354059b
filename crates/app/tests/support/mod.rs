pub mod contract_crm;
