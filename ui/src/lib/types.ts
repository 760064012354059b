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
  /** The SIP account set up from this provider's API (its softphone login), shown as part of it. */
  softphone?: string | null;
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
  /** PEM of a private CA to trust for TLS, besides the public roots. */
  caCertificate: string | null;
}

/** The softphone's registration (`softphone` events, `softphone_status`). */
export type SoftphoneStatus =
  | { state: "off" }
  | { state: "registering"; name: string; address: string }
  | { state: "registered"; name: string; address: string; expiresSecs: number }
  | { state: "failing"; name: string; address: string; reason: string; retryInSecs: number | null };

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
  /** Where the journal is kept. */
  dataDir: string;
  /** Where the logs are written. */
  logDir: string | null;
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

// ----- Calls (the journal) and contacts -----

export type CallDirection = "inbound" | "outbound";
/** The seed's Call statuses: a call rings, is in progress, then completed (was answered) or failed. */
export type CallStatus = "ringing" | "in_progress" | "completed" | "failed";
/** Why a call ended. */
export type CallEndReason =
  | "hung_up" // the agent hung up
  | "remote_hung_up" // the other side hung up
  | "declined" // the agent or the callee declined
  | "busy"
  | "no_answer"
  | "canceled" // the agent cancelled before an answer
  | "missed" // the caller gave up before the agent answered
  | "failed" // a network or provider failure (endDetail says which)
  | "interrupted" // Ringdesk stopped while the call was live
  | "transferred"; // passed on to someone else (endDetail says to whom)

export type TransferKind = "blind" | "attended";
export type TransferOutcome = "started" | "succeeded" | "failed" | "cancelled";

/** One transfer of a call and how it went. */
export interface Transfer {
  /** RFC 3339. */
  at: string;
  /** E.164 for a number, else the SIP address. */
  to: string;
  kind: TransferKind;
  outcome: TransferOutcome;
  detail: string | null;
}

export interface Call {
  id: string;
  direction: CallDirection;
  status: CallStatus;
  /** E.164 when the party is a phone number, else a SIP address. */
  from: string;
  to: string;
  contactId: string | null;
  contactName: string | null;
  providerId: string | null;
  /** RFC 3339 times. */
  initiatedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  durationSecs: number | null;
  endReason: CallEndReason | null;
  endDetail: string | null;
  /** A provider's link, or a `file:` URL for a recording made on this computer. */
  recordingUrl: string | null;
  recordingSecs: number | null;
  /** After-call work. */
  notes: string | null;
  disposition: Disposition | null;
  /** How it sounded to the agent, when its audio ran on this computer. */
  audio: CallAudio | null;
  transfers: Transfer[];
  /** Who passed this caller on to us (E.164 or SIP address), when the call came by transfer. */
  transferredBy: string | null;
  /** The queue the call came through (its name). */
  queue: string | null;
  /** The message the caller left when nobody answered (team voicemail). */
  voicemail?: CallVoicemail | null;
}

/** A caller's message as its call keeps it (Rust `CallVoicemail`). */
export interface CallVoicemail {
  durationSecs: number | null;
  transcription: string | null;
}

/** What the agent heard on a call: MOS and audio lost or concealed (percent). */
export interface CallAudio {
  mos: number;
  lossPercent: number;
}

/** The agent's after-call outcome, sent to the CRM with the call. */
export type Disposition = "interested" | "not_interested" | "call_back" | "left_voicemail" | "wrong_number";

/** The call's audio over the last few seconds: loss is what the agent did not hear as sent. */
export interface CallQuality {
  mos: number;
  lossPercent: number;
  jitterMs: number;
  rttMs: number | null;
  poor: boolean;
  /** Packets arrive but none can be played: the agent hears nothing. */
  stalled: boolean;
}

/** The microphone and speaker a call's audio uses (null: the system default). */
export interface CallDevices {
  microphone: string | null;
  speaker: string | null;
}

/** A call in progress, as its widget and the incoming popup show it. */
export interface ActiveCall {
  call: Call;
  muted: boolean;
  held: boolean;
  /** Through the softphone (else on the agent's phone, through the provider). */
  softphone: boolean;
  /** Rings while the agent is on another call. */
  waiting: boolean;
  /** A hold or resume is on its way to the far end. */
  holdPending: boolean;
  /** Up, and both sides know it: hold and transfer can be asked. */
  connected: boolean;
  /** A transfer of this call on its way. */
  transfer: { kind: TransferKind; to: string } | null;
  /** This call is the agent's word with a colleague before handing over call `consultOf`. */
  consultOf: string | null;
  /** Something the agent should know about this call now (a refused hold, a failed transfer). */
  notice: string | null;
  /** Why this call can only be passed on blind (null: "Talk first" works too). */
  blindOnly: string | null;
  /** Being recorded: on this computer (softphone), or by the provider (see providerRecording). */
  recording: boolean;
  /** The provider records this call on the agent's phone: Record pauses and resumes it. */
  providerRecording: boolean;
  quality: CallQuality | null;
  /** null while the audio is not on this computer (ringing here, or on the agent's phone). */
  devices: CallDevices | null;
}

export interface CallFilter {
  query?: string | null;
  direction?: CallDirection | null;
  status?: CallStatus | null;
  contactId?: string | null;
  /** Calls made or taken by this agent. */
  userId?: string | null;
  /** RFC 3339 bounds on initiatedAt. */
  since?: string | null;
  until?: string | null;
  /** Paging: the last call of the previous page. */
  before?: string | null;
  limit?: number | null;
}

export interface ContactPhone {
  /** E.164. */
  number: string;
  label: string | null;
}

export interface Contact {
  id: string;
  name: string;
  company: string | null;
  phones: ContactPhone[];
  emails: string[];
  crmId: string | null;
}

export interface ContactInput {
  name: string;
  company: string | null;
  /** Any format the agent typed; the core stores E.164 or refuses with field "phones.<i>". */
  phones: { number: string; label: string | null }[];
  emails: string[];
}

export type ContactImportFormat = "csv" | "vcard";

export interface ImportReport {
  added: number;
  updated: number;
  skipped: { line: number; reason: string }[];
}

// ----- Webhooks and how calls reach the agent -----

/** Settings → Telephony → Webhooks: the embedded receiver (off by default). */
export interface WebhookSettings {
  enabled: boolean;
  /** address:port it listens on, e.g. 127.0.0.1:8787 */
  bind: string;
  /** The https URL providers post to (a tunnel or proxy in front of `bind`), no path. */
  publicUrl: string | null;
}

export interface WebhookView extends WebhookSettings {
  /** Where it listens now; null when off. */
  listening: string | null;
  /** Providers post to `${baseUrl}/webhooks/${provider.id}`. */
  baseUrl: string;
}

/**
 * How the agent's calls are carried: through the softphone (this computer), or by the active
 * provider ringing the agent's own phone first and then connecting the contact.
 */
export type CallRouteMode = "softphone" | "phone";

export interface CallRoute {
  mode: CallRouteMode;
  /** The agent's desk or mobile phone (any format in, E.164 out); required for "phone". */
  phone: string | null;
  /** A tel:/callto:/sip:/ringdesk: link waits for the agent to press Call (default true). */
  confirmLinks: boolean;
}

// ----- CRM -----

export type CrmKind = "generic" | "hubspot" | "pipedrive";

export interface CrmSettings {
  kind: CrmKind;
  /** The CRM's base URL, e.g. https://crm.example.com */
  baseUrl: string;
}

export interface CrmView {
  settings: CrmSettings | null;
  hasToken: boolean;
  /** Call activities waiting for the CRM. */
  pending: number;
  /** When the next waiting one goes (Unix ms): later while it waits for notes or a retry. */
  nextDeliveryAt: number | null;
  delivered: number;
  /** Refused for good or out of attempts: shown with a retry action. */
  failed: { callId: string; error: string | null }[];
  /** The contacts cache (null until a CRM with a token is saved). */
  sync: CrmSync | null;
}

export interface CrmSync {
  running: boolean;
  /** Unix ms of the last pull that reached the CRM's present. */
  lastSyncAt: number | null;
  lastFullSyncAt: number | null;
  /** Why the last pull stopped, if it did. */
  error: string | null;
  /** Contacts mirrored from the CRM. */
  contacts: number;
}

// ----- Numbers and users (seed phases 2–3) -----

export type NumberType = "local" | "tollfree" | "mobile";

export interface NumberCapabilities {
  voice: boolean;
  sms: boolean;
  mms: boolean;
  fax: boolean;
}

/** Where a number's inbound calls go. */
export type NumberRoute =
  | { type: "user"; userId: string }
  | { type: "queue"; queue: string }
  | { type: "external"; number: string };

export interface PhoneNumber {
  id: string;
  providerId: string;
  providerNumberId: string;
  /** E.164 */
  phoneNumber: string;
  friendlyName: string | null;
  numberType: NumberType;
  country: string | null;
  capabilities: NumberCapabilities;
  route: NumberRoute | null;
  /** Calls through it recorded (true), not (false), or as its provider says (null). */
  recordCalls: boolean | null;
  /** False once the number left the account (kept for its calls). */
  active: boolean;
}

export interface NumberSyncReport {
  added: string[];
  updated: string[];
  deactivated: string[];
  unchanged: number;
}

export type UserStatus = "online" | "offline" | "busy" | "dnd";

/** The agent at this desktop and their status, as the `user_status` event says it. */
export interface MyStatus {
  userId: string;
  status: UserStatus;
}

export interface UserSettings {
  receiveCallsInApp: boolean;
  forwardWhenOffline: boolean;
  voicemailEnabled: boolean;
  dndEnabled: boolean;
}

/** An agent (the seed's TelephonyUser). */
export interface User {
  id: string;
  name: string;
  email: string | null;
  /** The agent at this desktop. */
  isMe: boolean;
  assignedNumbers: string[];
  /** Caller ID of their calls: one of assignedNumbers. */
  primaryNumber: string | null;
  forwardingNumber: string | null;
  settings: UserSettings;
  status: UserStatus;
}

export interface UserInput {
  name: string;
  email: string | null;
  isMe: boolean;
  assignedNumbers: string[];
  primaryNumber: string | null;
  forwardingNumber: string | null;
  settings: UserSettings;
}

export type Role = "admin" | "agent";
export type Presence = "available" | "on_call" | "wrap_up" | "dnd";

/** Where this desktop is signed in (Settings → Team). */
export interface TeamSettings {
  server: string;
  deviceId: string;
  agent: string | null;
  /** Who this desktop signed in as (null in settings kept before it was). */
  userId: string | null;
  role: Role;
}

/** How the link to the team server is doing. */
export type TeamLink =
  | { state: "off" }
  | { state: "connected"; presence: Presence }
  | { state: "unreachable"; reason: string }
  | { state: "signedOut"; reason: string };

/** A teammate as the team server lists them (presence null: offline). */
export interface TeamAgent extends User {
  presence: Presence | null;
}

/** An invite an admin hands an agent: their desktop opens the link (it works once). */
export interface InviteLink {
  code: string;
  link: string;
  expiresAt: string;
}

/** An agent's softphone login on the team's provider (its password goes to their desktop only). */
/** A SIP login on the team's own PBX, as an admin types it (the password goes to the server only). */
export interface GivenLogin {
  sipUser: string;
  sipDomain: string;
  registrar: string;
  password: string;
}

export interface AgentLogin {
  userId: string;
  providerId: string;
  sipUser: string;
  sipDomain: string;
  registrar: string;
}

/** An agent saved; a new one in a team comes with their invite. */
export interface SavedUser {
  user: User;
  invite: InviteLink | null;
}

/** What the team server says on the live link (Rust `TeamEvent`). */
export type TeamEvent =
  | { kind: "presence"; userId: string; presence: Presence | null }
  | { kind: "agents" }
  | { kind: "numbers" }
  | { kind: "providers" }
  | { kind: "call"; call: Call }
  | { kind: "softphone"; userId: string }
  | { kind: "revoked"; deviceId: string }
  | { kind: "resync" }
  | { kind: "voicemail"; userId: string; voicemail: Voicemail }
  | { kind: "queues" };

/** How a queue spreads its callers (Rust `queue::Strategy`). */
export type Strategy = "ring_all" | "round_robin" | "longest_idle";

/** Where a queue's caller goes when it cannot serve them. */
export type Overflow =
  | { type: "voicemail" }
  | { type: "number"; number: string }
  | { type: "user"; userId: string }
  | { type: "queue"; queueId: string };

export interface QueueInput {
  name: string;
  strategy: Strategy;
  /** Agents, in the order round-robin follows. */
  members: string[];
  ringTimeoutSecs: number;
  maxWaitSecs: number;
  maxSize: number;
  overflow: Overflow;
  greeting: string | null;
}

export interface Queue extends QueueInput {
  id: string;
}

/** A queue with its callers now. */
export interface QueueNow extends Queue {
  waiting: number;
  longestWaitSecs: number | null;
  /** The queue plays an admin's recording while callers wait. */
  holdMusicUploaded?: boolean;
  /** Its voicemail greeting is an admin's recording. */
  greetingUploaded?: boolean;
}

/** A recording an admin can give a queue (Rust `queue::QueueSound`). */
export type QueueSound = "hold-music" | "greeting";

export type VoicemailStatus = "new" | "listened" | "archived";

/** A caller's message in an agent's box or a queue's (Rust `queue::Voicemail`). */
export interface Voicemail {
  id: string;
  box: { type: "user"; userId: string } | { type: "queue"; queueId: string };
  providerCallId: string;
  caller: string;
  createdAt: string;
  durationSecs: number | null;
  /** The message is on the team server. */
  hasAudio: boolean;
  transcription: string | null;
  /** As this agent left it. */
  status: VoicemailStatus;
  /** This desktop writes the message to the CRM (the box's agent, or a queue's first member). */
  writesCrm?: boolean;
}

export interface TeamView {
  joined: TeamSettings | null;
  link: TeamLink;
}

/** Settings → Recordings: recordings of softphone calls made on this computer. */
export interface RecordingSettings {
  recordEveryCall: boolean;
  /** Recordings older than this are deleted; null keeps them. */
  keepDays: number | null;
  /** Both sides hear a short tone each time recording starts. */
  beep: boolean;
}
