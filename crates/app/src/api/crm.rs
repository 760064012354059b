//! The CRM: its settings and token, deliveries and the contacts cache, a contact opened in or
//! added to it.

use crate::*;

impl Ringdesk {
    /// Settings → CRM: what is connected and how deliveries stand.
    pub async fn crm(&self) -> Result<CrmView, CrmSetupError> {
        crm::view(
            &self.store.settings(),
            self.secrets.as_ref(),
            &self.store.outbox(),
            &self.store.contacts(),
            self.crm_sync.running.load(Ordering::SeqCst),
        )
        .await
    }

    /// Changes whenever deliveries or the contacts sync move (the tray and Settings → CRM
    /// read `crm()` again).
    pub fn subscribe_crm(&self) -> watch::Receiver<u64> {
        self.crm_sync.changed.subscribe()
    }

    /// Pulls the CRM's contacts now: the changes, or everything again when `full`.
    pub fn sync_crm(&self, full: bool) {
        if full {
            self.crm_sync.full.store(true, Ordering::SeqCst);
        }
        self.crm_sync.now.notify_one();
    }

    /// Connects a CRM (a token of None keeps the stored one) and starts delivering to it.
    pub async fn set_crm(
        &self,
        settings: CrmSettings,
        token: Option<String>,
    ) -> Result<CrmView, CrmSetupError> {
        crm::save(
            &self.store.settings(),
            self.secrets.as_ref(),
            settings,
            token,
        )
        .await?;
        self.start_crm().await;
        self.crm().await
    }

    /// Disconnects the CRM: no more deliveries or contact pulls, its token gone from the
    /// keyring. Waiting activities are kept for when one is connected again.
    pub async fn disconnect_crm(&self) -> Result<CrmView, CrmSetupError> {
        crm::forget(&self.store.settings(), self.secrets.as_ref()).await?;
        self.start_crm().await;
        self.crm().await
    }

    /// Asks the connected CRM whether the address and token work.
    pub async fn test_crm(&self) -> Result<String, CrmSetupError> {
        let connector = crm::connector(&self.store.settings(), self.secrets.as_ref())
            .await?
            .ok_or(CrmSetupError::NoToken)?;
        Ok(connector.test().await?)
    }

    /// Whether a CRM is connected now — cheap (no keyring read, no counts): the journal asks
    /// it to offer "also in the CRM".
    pub fn crm_connected(&self) -> bool {
        self.connected_crm().is_ok()
    }

    /// The connector the running CRM tasks use (its caches — HubSpot's portal, outcomes,
    /// owners — are shared with them rather than rebuilt per request).
    pub(crate) fn connected_crm(
        &self,
    ) -> Result<Arc<dyn ringdesk_crm::CrmConnector>, CrmSetupError> {
        self.crm_connector
            .read()
            .ok()
            .and_then(|c| c.clone())
            .ok_or(CrmSetupError::NotConnected)
    }

    /// The contact's page in the CRM's web app (None: not a CRM contact).
    pub async fn contact_crm_url(&self, id: ContactId) -> Result<Option<String>, CrmSetupError> {
        let contact = self
            .store
            .contacts()
            .get(id)
            .await?
            .ok_or(CrmSetupError::NoContact)?;
        let Some(crm_id) = contact.crm_id else {
            return Ok(None);
        };
        let connector = self.connected_crm()?;
        Ok(connector.contact_url(&crm_id).await?.map(String::from))
    }

    /// Creates a contact that is only on this desktop (an unknown caller the agent saved) in
    /// the CRM, and links the two.
    pub async fn add_contact_to_crm(&self, id: ContactId) -> Result<Contact, CrmSetupError> {
        let contacts = self.store.contacts();
        let contact = contacts.get(id).await?.ok_or(CrmSetupError::NoContact)?;
        if contact.crm_id.is_some() {
            return Ok(contact);
        }
        let connector = self.connected_crm()?;
        let created = connector
            .create_contact(&ringdesk_crm::NewContact {
                name: contact.name.clone(),
                company: contact.company.clone(),
                phones: contact
                    .phones
                    .iter()
                    .map(|p| p.number.to_string())
                    .collect(),
                emails: contact.emails.clone(),
            })
            .await?;
        contacts.link_crm(id, &created.id).await?;
        tracing::info!(contact = %id, "contact added to the CRM");
        contacts.get(id).await?.ok_or(CrmSetupError::NoContact)
    }

    /// Saves the far party of a call as a new contact named `name`, and names it on every
    /// earlier call with that number (its history follows it).
    pub async fn save_caller(&self, call: CallId, name: &str) -> Result<Contact, ContactsError> {
        let call = self
            .store
            .calls()
            .get(call)
            .await?
            .ok_or(ContactsError::NotFound)?;
        let party = call.other_party().to_string();
        let contact = self
            .contacts
            .create(&ringdesk_core::ContactInput {
                name: name.into(),
                company: None,
                phones: vec![ringdesk_core::PhoneInput {
                    number: party.clone(),
                    label: None,
                }],
                emails: vec![],
            })
            .await?;
        let linked = self.store.calls().link_contact(&party, contact.id).await?;
        tracing::info!(contact = %contact.id, calls = linked, "caller saved as a contact");
        Ok(contact)
    }

    /// Tries the deliveries that failed for good again (the agent's retry action).
    pub async fn retry_crm(&self) -> Result<CrmView, CrmSetupError> {
        self.store.outbox().retry_dead().await?;
        self.journal.wake.notify_one();
        self.crm().await
    }

    /// (Re)starts the outbox worker for the connected CRM, or stops it when there is none.
    pub(crate) async fn start_crm(&self) {
        let mut tasks = self.crm_tasks.lock().await;
        for old in tasks.drain(..) {
            old.abort();
        }
        self.crm_sync.running.store(false, Ordering::SeqCst);
        let connector = match crm::connector(&self.store.settings(), self.secrets.as_ref()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "CRM not connected");
                None
            }
        };
        let saved = match &connector {
            Some(_) => crm::load(&self.store.settings()).await.ok().flatten(),
            None => None,
        };
        if let Ok(mut crm) = self.journal.crm.write() {
            *crm = saved.as_ref().map(|s| s.kind);
        }
        if let Ok(mut current) = self.crm_connector.write() {
            *current = connector.clone().filter(|_| saved.is_some());
        }
        if let (Some(connector), Some(saved)) = (connector, saved) {
            let run = crm::Worker {
                outbox: self.store.outbox(),
                calls: self.store.calls(),
                contacts: self.store.contacts(),
                users: self.store.users(),
                wake: self.journal.wake.clone(),
                changed: self.crm_sync.changed.clone(),
            };
            tasks.push(tokio::spawn(run.run(connector.clone())));
            let sync = crm_sync::Syncer {
                contacts: self.store.contacts(),
                crm: saved.identity(),
                region: self.region,
                now: self.crm_sync.now.clone(),
                full: self.crm_sync.full.clone(),
                running: self.crm_sync.running.clone(),
                changed: self.crm_sync.changed.clone(),
            };
            tasks.push(tokio::spawn(sync.run(connector)));
        }
        self.crm_sync.changed.send_modify(|n| *n += 1);
    }
}
