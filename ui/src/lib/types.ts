// Shapes of what the Rust core sends (serde camelCase); one name per concept, as in Rust.

export type ProviderKind = "telnyx" | "twilio" | "vonage" | "sip";
export type ProviderStatus = "active" | "configured" | "not_configured";
export type CredentialField =
  | "apiKey"
  | "apiSecret"
  | "accountSid"
  | "authToken"
  | "applicationId"
  | "privateKey"
  | "webhookSecret"
  | "sipPassword";

export type CredentialFlags = Record<CredentialField, boolean>;

export interface Provider {
  id: string;
  kind: ProviderKind;
  name: string;
  enabled: boolean;
  isActive: boolean;
  credentials: CredentialFlags;
  settings: { defaultCallerId: string | null; recordCalls: boolean; sip: SipSettings | null };
  createdAt: string;
  updatedAt: string;
  status: ProviderStatus;
  missingCredentials: CredentialField[];
}

export type Credentials = Partial<Record<CredentialField, string>>;

/** A plain SIP account's settings (its password is a credential, in the keyring). */
export interface SipSettings {
  registrar: string;
  domain: string | null;
  username: string;
  authUsername: string | null;
  transport: "auto" | "udp" | "tcp" | "tls";
  outboundProxy: string | null;
}

/** The softphone's registration (`softphone` events, `softphone_status`). */
export type SoftphoneStatus =
  | { state: "off" }
  | { state: "registering"; address: string }
  | { state: "registered"; address: string; expiresSecs: number }
  | { state: "failing"; address: string; reason: string; retryInSecs: number | null };

export interface NewProvider {
  kind: ProviderKind;
  name: string;
  credentials: Credentials;
  defaultCallerId: string | null;
  recordCalls: boolean;
  sip: SipSettings | null;
}

export interface ProviderUpdate {
  name?: string;
  credentials?: Credentials;
  clearCredentials?: CredentialField[];
  defaultCallerId?: string;
  recordCalls?: boolean;
  sip?: SipSettings;
}

export interface ProviderError {
  kind: string;
  message?: string;
  status?: number;
  code?: string | null;
  retry_after_secs?: number | null;
}

export interface ConnectionTest {
  ok: boolean;
  account: { name: string | null; detail: string | null } | null;
  error: ProviderError | null;
  message: string;
}

export interface UiError {
  kind: string;
  field: string | null;
  message: string;
}

export interface DialRequest {
  number: string;
  display: string;
  extension: string | null;
  scheme: string;
}

export interface DialLinkOutcome {
  link: string;
  request: DialRequest | null;
  error: string | null;
}

export interface NumberPreview {
  e164: string;
  display: string;
  region: string | null;
}

export type Availability = "available" | "do_not_disturb";

export interface AppInfo {
  version: string;
  region: string;
}

export type AudioRole = "microphone" | "speaker" | "ringer";

/** The sound devices present and the one each role uses now (null: the system default). */
export interface AudioView {
  microphones: string[];
  speakers: string[];
  microphone: string | null;
  speaker: string | null;
  ringer: string | null;
}
