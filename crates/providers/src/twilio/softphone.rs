//! The softphone's login on Twilio: a SIP domain with registration on, per agent, whose
//! registrations and calls are authenticated by the agent's credential list; the agent's
//! numbers and the domain ask Ringdesk's voice URL what to do with each call (Twilio has no
//! other way to route a registered endpoint's calls). Everything is named
//! "Ringdesk softphone <label>" and found again by that name, so a second run reuses it.

use rand::distributions::{Alphanumeric, DistString};
use ringdesk_core::ports::{ProvisionedResource, SoftphoneLogin, SoftphoneRequest};
use ringdesk_core::ProviderError;
use secrecy::SecretString;
use serde::Deserialize;

use super::TwilioAdapter;
use crate::http;

/// Lists of Ringdesk's own resources are short; a list that does not end is nonsense.
const MAX_PAGES: usize = 50;
pub(super) const DOMAIN: &str = "sip_domain";
pub(super) const CREDENTIAL_LIST: &str = "sip_credential_list";
/// A number whose calls were pointed at the voice URL; `restore` holds its former routing.
pub(super) const NUMBER: &str = "number_routing";

/// How a number's calls were routed: what Ringdesk changes, and puts back on removal.
#[derive(Deserialize)]
struct NumberRouting {
    voice_url: Option<String>,
    voice_method: Option<String>,
    voice_application_sid: Option<String>,
    trunk_sid: Option<String>,
}

fn blank(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(|v| v.trim().is_empty())
}

#[derive(Deserialize)]
struct Named {
    sid: String,
    friendly_name: Option<String>,
}

#[derive(Deserialize)]
struct Credential {
    sid: String,
    username: Option<String>,
}

#[derive(Deserialize)]
struct Domain {
    sid: String,
    domain_name: String,
    friendly_name: Option<String>,
}

#[derive(Deserialize)]
struct Mapping {
    sid: String,
}

/// Twilio wants at least 12 characters with a digit, a lower- and an upper-case letter.
fn new_password() -> String {
    loop {
        let candidate = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
        let has = |f: fn(&char) -> bool| candidate.chars().any(|c| f(&c));
        if has(char::is_ascii_digit)
            && has(char::is_ascii_lowercase)
            && has(char::is_ascii_uppercase)
        {
            return candidate;
        }
    }
}

impl TwilioAdapter {
    pub(super) async fn provision(
        &self,
        request: &SoftphoneRequest,
    ) -> Result<SoftphoneLogin, ProviderError> {
        let voice_url =
            request
                .voice_url
                .as_deref()
                .ok_or_else(|| ProviderError::NeedsWebhooks {
                    provider: "Twilio".into(),
                })?;
        let group = request.group.as_deref().unwrap_or(&request.label);
        let name = format!("Ringdesk softphone {group}");
        let mut created = Vec::new();
        let list = self.credential_list(&name, &mut created).await?;
        // Twilio never gives a password back: a credential found again gets a new one.
        let password = new_password();
        self.credential(&list, &request.label, &password).await?;
        let domain = self.domain(&name, group, voice_url, &mut created).await?;
        for scope in ["Registrations", "Calls"] {
            self.map_credentials(&domain.sid, scope, &list).await?;
        }
        for number in &request.numbers {
            self.point_number(number, voice_url, &mut created).await?;
        }
        tracing::info!(
            created = created.len(),
            numbers = request.numbers.len(),
            "Twilio softphone login ready"
        );
        Ok(SoftphoneLogin {
            registrar: self
                .sip_registrar
                .clone()
                .unwrap_or_else(|| domain.domain_name.clone()),
            domain: Some(domain.domain_name),
            username: request.label.clone(),
            password: SecretString::from(password),
            created,
        })
    }

    async fn credential_list(
        &self,
        name: &str,
        created: &mut Vec<ProvisionedResource>,
    ) -> Result<String, ProviderError> {
        let url = self.account_url(&["SIP", "CredentialLists.json"]);
        let lists: Vec<Named> = self
            .list_all(url.clone(), "credential_lists", MAX_PAGES)
            .await?;
        if let Some(found) = lists
            .into_iter()
            .find(|l| l.friendly_name.as_deref() == Some(name))
        {
            return Ok(found.sid);
        }
        let made: Named =
            http::json(self.post(url, &[("FriendlyName", name)]), self.timeout).await?;
        created.push(ProvisionedResource::created(CREDENTIAL_LIST, &made.sid));
        Ok(made.sid)
    }

    /// The agent's credential in `list`, created or given `password`.
    async fn credential(
        &self,
        list: &str,
        username: &str,
        password: &str,
    ) -> Result<(), ProviderError> {
        let url = self.account_url(&["SIP", "CredentialLists", list, "Credentials.json"]);
        let credentials: Vec<Credential> =
            self.list_all(url.clone(), "credentials", MAX_PAGES).await?;
        let request = match credentials
            .into_iter()
            .find(|c| c.username.as_deref() == Some(username))
        {
            Some(found) => self.post(
                self.account_url(&[
                    "SIP",
                    "CredentialLists",
                    list,
                    "Credentials",
                    &format!("{}.json", found.sid),
                ]),
                &[("Password", password)],
            ),
            None => self.post(url, &[("Username", username), ("Password", password)]),
        };
        http::done(request, self.timeout).await
    }

    /// The agent's domain: found by name and pointed at `voice_url` again (the receiver's
    /// address may have changed), else created under a fresh unique name.
    async fn domain(
        &self,
        name: &str,
        label: &str,
        voice_url: &str,
        created: &mut Vec<ProvisionedResource>,
    ) -> Result<Domain, ProviderError> {
        let url = self.account_url(&["SIP", "Domains.json"]);
        let domains: Vec<Domain> = self.list_all(url.clone(), "domains", MAX_PAGES).await?;
        let settings = [
            ("VoiceUrl", voice_url),
            ("VoiceMethod", "POST"),
            ("SipRegistration", "true"),
        ];
        if let Some(found) = domains
            .into_iter()
            .find(|d| d.friendly_name.as_deref() == Some(name))
        {
            let url = self.account_url(&["SIP", "Domains", &format!("{}.json", found.sid)]);
            return http::json(self.post(url, &settings), self.timeout).await;
        }
        // Domain names are global across Twilio: the label plus a random suffix.
        let suffix = Alphanumeric
            .sample_string(&mut rand::thread_rng(), 6)
            .to_ascii_lowercase();
        let domain_name = format!("{label}-{suffix}.sip.twilio.com");
        let mut form = vec![("DomainName", domain_name.as_str()), ("FriendlyName", name)];
        form.extend(settings);
        let made: Domain = http::json(self.post(url, &form), self.timeout).await?;
        created.push(ProvisionedResource::created(DOMAIN, &made.sid));
        Ok(made)
    }

    /// Points `number`'s calls at `voice_url`, recording how they were routed before — unless
    /// they already go there (a re-run), so the first record, the number's own, is kept.
    /// A TwiML app or SIP trunk on the number would take precedence over the URL: detached.
    async fn point_number(
        &self,
        number: &str,
        voice_url: &str,
        created: &mut Vec<ProvisionedResource>,
    ) -> Result<(), ProviderError> {
        let url = self.account_url(&["IncomingPhoneNumbers", &format!("{number}.json")]);
        let before: NumberRouting = http::json(self.get(url.clone()), self.timeout).await?;
        let app_or_trunk = !blank(&before.voice_application_sid) || !blank(&before.trunk_sid);
        if before.voice_url.as_deref() == Some(voice_url) && !app_or_trunk {
            return Ok(());
        }
        let mut form = vec![("VoiceUrl", voice_url), ("VoiceMethod", "POST")];
        // Twilio clears a property given as an empty value.
        if !blank(&before.voice_application_sid) {
            form.push(("VoiceApplicationSid", ""));
        }
        if !blank(&before.trunk_sid) {
            form.push(("TrunkSid", ""));
        }
        http::done(self.post(url, &form), self.timeout).await?;
        let mut restore = vec![
            ("VoiceUrl", before.voice_url.unwrap_or_default()),
            (
                "VoiceMethod",
                before.voice_method.unwrap_or_else(|| "POST".into()),
            ),
        ];
        // Setting an app detaches a trunk and the reverse: put back whichever there was.
        if let Some(app) = before
            .voice_application_sid
            .filter(|v| !v.trim().is_empty())
        {
            restore.push(("VoiceApplicationSid", app));
        } else if let Some(trunk) = before.trunk_sid.filter(|v| !v.trim().is_empty()) {
            restore.push(("TrunkSid", trunk));
        }
        let restore = restore
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<Vec<_>>();
        created.push(ProvisionedResource {
            kind: NUMBER.into(),
            id: number.to_string(),
            restore: Some(serde_json::to_string(&restore).unwrap_or_default()),
        });
        Ok(())
    }

    /// `list` authenticates the domain's `scope` (`Registrations` or `Calls`).
    async fn map_credentials(
        &self,
        domain: &str,
        scope: &str,
        list: &str,
    ) -> Result<(), ProviderError> {
        let url = self.account_url(&[
            "SIP",
            "Domains",
            domain,
            "Auth",
            scope,
            "CredentialListMappings.json",
        ]);
        let mapped: Vec<Mapping> = self.list_all(url.clone(), "contents", MAX_PAGES).await?;
        if mapped.iter().any(|m| m.sid == list) {
            return Ok(());
        }
        http::done(self.post(url, &[("CredentialListSid", list)]), self.timeout).await
    }

    /// Numbers put back first (while the domain still answers), then domains before
    /// credential lists (a list still mapped to a domain is in use).
    pub(super) async fn remove(
        &self,
        resources: &[ProvisionedResource],
    ) -> Result<(), ProviderError> {
        for r in resources.iter().filter(|r| r.kind == NUMBER) {
            let Some(form) = r
                .restore
                .as_deref()
                .and_then(|json| serde_json::from_str::<Vec<(String, String)>>(json).ok())
            else {
                continue;
            };
            let url = self.account_url(&["IncomingPhoneNumbers", &format!("{}.json", r.id)]);
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            // Released from the account meanwhile: nothing to put back.
            http::gone_is_done(http::done(self.post(url, &form), self.timeout).await)?;
        }
        for kind in [DOMAIN, CREDENTIAL_LIST] {
            for r in resources.iter().filter(|r| r.kind == kind) {
                let collection = if kind == DOMAIN {
                    "Domains"
                } else {
                    "CredentialLists"
                };
                let url = self.account_url(&["SIP", collection, &format!("{}.json", r.id)]);
                let request = self.authed(self.client.delete(url));
                http::gone_is_done(http::done(request, self.timeout).await)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_meet_twilios_rules() {
        for _ in 0..100 {
            let p = super::new_password();
            assert_eq!(p.len(), 32);
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        }
    }
}
