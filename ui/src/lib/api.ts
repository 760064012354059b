// The only module that talks to the Rust core: typed wrappers over Tauri commands and events.
import { invoke, type InvokeArgs, type InvokeOptions } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  NumberRoute,
  NumberSyncReport,
  PhoneNumber,
  User,
  UserInput,
  MyStatus,
  ActiveCall,
  CrmSettings,
  CrmView,
  TeamView,
  TeamAgent,
  TeamEvent,
  Queue,
  QueueInput,
  QueueNow,
  QueueSound,
  Voicemail,
  VoicemailStatus,
  SavedUser,
  InviteLink,
  AgentLogin,
  GivenLogin,
  CallRoute,
  RecordingSettings,
  WebhookSettings,
  WebhookView,
  AppInfo,
  Call,
  CallFilter,
  Contact,
  ContactImportFormat,
  ContactInput,
  Disposition,
  ImportReport,
  AudioRole,
  AudioView,
  Availability,
  ConnectionTest,
  DialLinkOutcome,
  NewProvider,
  NumberPreview,
  Provider,
  ProviderUpdate,
  SoftphoneStatus,
  TransferKind,
  UiError,
} from "./types";

/** Commands reject with a UiError; anything else (IPC failure) is wrapped into one. */
async function call<T>(command: string, args?: InvokeArgs, options?: InvokeOptions): Promise<T> {
  try {
    return await invoke<T>(command, args, options);
  } catch (e) {
    if (e && typeof e === "object" && "message" in e) throw e as UiError;
    throw { kind: "internal", field: null, message: String(e) } satisfies UiError;
  }
}

export const api = {
  appInfo: () => call<AppInfo>("app_info"),
  /** This window's first screen is painted (the shell logs how long it took: the figures). */
  uiShown: () => call<void>("ui_shown"),
  /** Whether Ringdesk starts into the tray when the agent logs in. */
  autostart: {
    get: () => call<boolean>("autostart_get"),
    set: (enabled: boolean) => call<boolean>("autostart_set", { enabled }),
  },
  providers: {
    list: () => call<Provider[]>("provider_list"),
    get: (id: string) => call<Provider>("provider_get", { id }),
    create: (provider: NewProvider) => call<Provider>("provider_create", { provider }),
    update: (id: string, update: ProviderUpdate) => call<Provider>("provider_update", { id, update }),
    remove: (id: string) => call<void>("provider_delete", { id }),
    activate: (id: string) => call<Provider>("provider_activate", { id }),
    test: (id: string) => call<ConnectionTest>("provider_test", { id }),
    /** Creates the softphone's SIP login through the provider's API; resolves to the SIP account, made active. */
    setupSoftphone: (id: string) => call<Provider>("provider_setup_softphone", { id }),
  },
  numberPreview: (input: string) => call<NumberPreview>("number_preview", { input }),
  dialLinkPending: () => call<DialLinkOutcome | null>("dial_link_pending"),
  softphoneStatus: () => call<SoftphoneStatus>("softphone_status"),
  availability: {
    get: () => call<Availability>("availability_get"),
    set: (availability: Availability) => call<Availability>("availability_set", { availability }),
  },
  audio: {
    get: () => call<AudioView>("audio_get"),
    choose: (role: AudioRole, device: string | null) => call<AudioView>("audio_choose", { role, device }),
    testSound: (role: AudioRole) => call<void>("audio_test_sound", { role }),
    testMicrophone: () => call<void>("audio_test_microphone"),
  },
  contacts: {
    /** Up to 200 contacts matching `query` (name, company, email, phone digits); all when empty. */
    list: (query: string | null) => call<Contact[]>("contact_list", { query }),
    create: (contact: ContactInput) => call<Contact>("contact_create", { contact }),
    update: (id: string, contact: ContactInput) => call<Contact>("contact_update", { id, contact }),
    remove: (id: string) => call<void>("contact_delete", { id }),
    import: (text: string, format: ContactImportFormat) => call<ImportReport>("contact_import", { text, format }),
    /** Opens the contact's page in the CRM in the browser; resolves to the address (null: not a CRM contact). */
    openInCrm: (id: string) => call<string | null>("contact_open_in_crm", { id }),
    /** Saves the far party of a call (an unknown caller) as a contact, with their earlier calls. */
    saveCaller: (callId: string, name: string) => call<Contact>("call_save_contact", { callId, name }),
    /** Creates a contact that is only on this desktop in the CRM and links them. */
    addToCrm: (id: string) => call<Contact>("contact_add_to_crm", { id }),
  },
  numbers: {
    list: () => call<PhoneNumber[]>("number_list"),
    /** The providers the numbers come from (the team's in a team), to sync from. */
    providers: () => call<Provider[]>("number_providers"),
    /** Reads the provider's numbers (every page) and applies them; nothing changes if it fails. */
    sync: (providerId: string) => call<NumberSyncReport>("number_sync", { providerId }),
    /** Sets where the number's calls go (null: nowhere yet); rejects with field "externalNumber" or "queue". */
    route: (id: string, route: NumberRoute | null) => call<PhoneNumber>("number_route_set", { id, route }),
    /** Whether calls through the number are recorded (null: as its provider says; team server only). */
    recording: (id: string, recordCalls: boolean | null) => call<PhoneNumber>("number_recording_set", { id, recordCalls }),
  },
  users: {
    list: () => call<User[]>("user_list"),
    /** Creates (id null) or changes an agent; rejects with the field to mark. */
    save: (id: string | null, user: UserInput) => call<SavedUser>("user_save", { id, user }),
    /** A new invite for the agent's desktop (team admins). */
    invite: (id: string) => call<InviteLink>("user_invite", { id }),
    /** Makes (or remakes) the agent's softphone login on the team's active provider (team admins). */
    softphone: (id: string) => call<AgentLogin>("user_softphone", { id }),
    /** Keeps the SIP login the team's PBX gave the agent (a provider that makes none: Vonage). */
    giveSoftphone: (id: string, login: GivenLogin) => call<AgentLogin>("user_softphone_give", { id, login }),
    remove: (id: string) => call<void>("user_delete", { id }),
  },
  webhooks: {
    get: () => call<WebhookView>("webhook_get"),
    /** Saves and starts/stops the receiver; rejects with field "bind" or "publicUrl". */
    set: (settings: WebhookSettings) => call<WebhookView>("webhook_set", { settings }),
  },
  team: {
    get: () => call<TeamView>("team_get"),
    /** Joins with an invite link (`ringdesk://join?server=…&code=…`); an empty name uses this computer's. */
    join: (link: string, deviceName: string) => call<TeamView>("team_join", { link, deviceName }),
    leave: () => call<TeamView>("team_leave"),
    /** The team's agents and how each is (empty when not in a team). */
    agents: () => call<TeamAgent[]>("team_agents"),
    /** An invite link that arrived before the window listened. */
    pendingInvite: () => call<string | null>("team_invite_pending"),
    /** Adds a provider account to the team (admins): its keys go to the server. */
    addProvider: (provider: NewProvider) => call<Provider>("team_provider_add", { provider }),
    /** Makes a team provider the active one (admins); the server makes the agents' logins on it. */
    activateProvider: (id: string) => call<Provider>("team_provider_activate", { id }),
  },
  queues: {
    /** The team's queues with their callers now (rejects outside a team). */
    list: () => call<QueueNow[]>("queue_list"),
    /** Makes (id null) or changes a queue (team admins); rejects with the server's reason. */
    save: (id: string | null, queue: QueueInput) => call<Queue>("queue_save", { id, queue }),
    remove: (id: string) => call<void>("queue_delete", { id }),
    /** An admin's WAV or MP3 for the queue's hold music or greeting: the file's bytes go as
     *  they are (not a JSON array of numbers). */
    uploadSound: async (id: string, sound: QueueSound, file: File) =>
      call<void>("queue_sound_upload", new Uint8Array(await file.arrayBuffer()), { headers: { queue: id, sound } }),
    /** Back to the server's hold music, or the spoken greeting. */
    removeSound: (id: string, sound: QueueSound) => call<void>("queue_sound_remove", { id, sound }),
  },
  voicemail: {
    /** This agent's messages and their queues', newest first (none outside a team). */
    list: (status: VoicemailStatus | null, search: string | null) =>
      call<Voicemail[]>("voicemail_list", { status, search }),
    /** The message's audio from the team server (mp3 or wav). */
    audio: (id: string) => call<ArrayBuffer>("voicemail_audio", { id }),
    setStatus: (id: string, status: VoicemailStatus) => call<void>("voicemail_status_set", { id, status }),
    /** Whether this agent greets callers with their own recording. */
    greeting: () => call<boolean>("greeting_get"),
    /** This agent's own greeting (WAV or MP3), its bytes sent as they are. */
    uploadGreeting: async (file: File) =>
      call<void>("greeting_upload", new Uint8Array(await file.arrayBuffer())),
    /** Back to the spoken greeting. */
    removeGreeting: () => call<void>("greeting_remove"),
  },
  crm: {
    get: () => call<CrmView>("crm_get"),
    /** `token` null keeps the stored one; rejects with field "baseUrl" or "token". */
    set: (settings: CrmSettings, token: string | null) => call<CrmView>("crm_set", { settings, token }),
    test: () => call<string>("crm_test"),
    disconnect: () => call<CrmView>("crm_disconnect"),
    retry: () => call<CrmView>("crm_retry"),
    /** Whether a CRM is connected (saved with its token). */
    connected: () => call<boolean>("crm_connected"),
    /** Pulls the CRM's contacts now (`full`: everything again, dropping what the CRM no longer has). */
    sync: (full: boolean) => call<void>("crm_sync", { full }),
  },
  callRoute: {
    get: () => call<CallRoute>("call_route_get"),
    /** Rejects with field "phone" when the number is missing or not valid. */
    set: (route: CallRoute) => call<CallRoute>("call_route_set", { route }),
  },
  recordings: {
    settings: () => call<RecordingSettings>("recording_settings_get"),
    setSettings: (settings: RecordingSettings) => call<RecordingSettings>("recording_settings_set", { settings }),
    /** Deletes a call's recording made on this computer; the call as it is now. */
    delete: (callId: string) => call<Call>("recording_delete", { callId }),
    /** The bytes of a call's recording made on this computer (Ogg Opus). */
    audio: (callId: string) => call<ArrayBuffer>("recording_audio", { callId }),
    /** Saves a copy in Downloads (the team server's recording) and shows it; returns where. */
    saveCopy: (callId: string) => call<string>("recording_save_copy", { callId }),
    /** Shows the recording's file in the file manager (to copy it elsewhere). */
    reveal: (callId: string) => call<void>("recording_reveal", { callId }),
  },
  calls: {
    /** Newest first. */
    list: (filter: CallFilter) => call<Call[]>("call_list", { filter }),
    /** Every call in progress, oldest first. */
    live: () => call<ActiveCall[]>("call_live"),
    /** `number`: any phone number format or a SIP address. */
    dial: (number: string, contactId: string | null = null) => call<Call>("call_dial", { number, contactId }),
    // The controls act on `callId`; without one, on the call in focus (talked to, else ringing in).
    answer: (callId: string | null = null) => call<void>("call_answer", { callId }),
    decline: (callId: string | null = null) => call<void>("call_decline", { callId }),
    hangup: (callId: string | null = null) => call<void>("call_hangup", { callId }),
    mute: (muted: boolean, callId: string | null = null) => call<void>("call_mute", { callId, muted }),
    hold: (held: boolean, callId: string | null = null) => call<void>("call_hold", { callId, held }),
    dtmf: (digits: string, callId: string | null = null) => call<void>("call_dtmf", { callId, digits }),
    /** The held call becomes the one talked to; the other is held. */
    swap: () => call<void>("call_swap"),
    /** `target`: any phone number format or a SIP address; rejects (field "number") when it is neither. */
    transfer: (callId: string | null, target: string, kind: TransferKind) =>
      call<void>("call_transfer", { callId, target, kind }),
    /** Attended: hands the caller to the colleague on the consultation call. */
    transferComplete: (callId: string | null = null) => call<void>("call_transfer_complete", { callId }),
    /** Attended: ends the consultation, back to the caller. */
    transferCancel: (callId: string | null = null) => call<void>("call_transfer_cancel", { callId }),
    /** Records the call on this computer (or pauses its recording). */
    record: (on: boolean, callId: string | null = null) => call<void>("call_record", { callId, on }),
    /** How many calls at once (1: a second caller hears busy). */
    atOnce: () => call<number>("calls_at_once_get"),
    setAtOnce: (count: number) => call<number>("calls_at_once_set", { count }),
    /** Missed calls the agent has not seen yet. */
    missed: () => call<number>("calls_missed"),
    /** The agent looked at the journal: the missed calls so far are seen. */
    missedSeen: () => call<void>("calls_missed_seen"),
    /** After-call work on a finished call; sends its CRM activity now (both may be null: skip). */
    wrapUp: (callId: string, notes: string | null, disposition: Disposition | null) =>
      call<Call>("call_wrap_up", { callId, notes, disposition }),
  },
};

export const events = {
  dialRequest: (handler: (o: DialLinkOutcome) => void): Promise<UnlistenFn> =>
    listen<DialLinkOutcome>("dial_request", (e) => handler(e.payload)),
  availability: (handler: (a: Availability) => void): Promise<UnlistenFn> =>
    listen<Availability>("availability", (e) => handler(e.payload)),
  softphone: (handler: (s: SoftphoneStatus) => void): Promise<UnlistenFn> =>
    listen<SoftphoneStatus>("softphone", (e) => handler(e.payload)),
  /** Every call in progress (oldest first) after every change; empty once none is. */
  liveCalls: (handler: (calls: ActiveCall[]) => void): Promise<UnlistenFn> =>
    listen<ActiveCall[]>("live_calls", (e) => handler(e.payload)),
  /** The count of missed calls not seen yet, each time it may have changed. */
  missedCalls: (handler: (count: number) => void): Promise<UnlistenFn> =>
    listen<number>("missed_calls", (e) => handler(e.payload)),
  /** A call ended (also calls refused or missed without ever being active). */
  callEnded: (handler: (c: Call) => void): Promise<UnlistenFn> =>
    listen<Call>("call_ended", (e) => handler(e.payload)),
  /** The link to the team server, each time it changes. */
  team: (handler: (v: TeamView) => void): Promise<UnlistenFn> =>
    listen<TeamView>("team", (e) => handler(e.payload)),
  /** What the team server said on the live link. */
  teamNews: (handler: (e: TeamEvent) => void): Promise<UnlistenFn> =>
    listen<TeamEvent>("team_news", (e) => handler(e.payload)),
  /** An invite link opened on the desktop: Settings → Team proposes it. */
  teamInvite: (handler: (link: string) => void): Promise<UnlistenFn> =>
    listen<string>("team_invite", (e) => handler(e.payload)),
  /** The CRM's state after deliveries and contact pulls. */
  crm: (handler: (v: CrmView) => void): Promise<UnlistenFn> =>
    listen<CrmView>("crm", (e) => handler(e.payload)),
  /** My status each time it changes (softphone, Do not disturb, calls). */
  userStatus: (handler: (s: MyStatus) => void): Promise<UnlistenFn> =>
    listen<MyStatus>("user_status", (e) => handler(e.payload)),
  /** Microphone level in dBFS while the microphone test runs (every 100 ms). */
  micLevel: (handler: (dbfs: number) => void): Promise<UnlistenFn> =>
    listen<number>("mic_level", (e) => handler(e.payload)),
};
